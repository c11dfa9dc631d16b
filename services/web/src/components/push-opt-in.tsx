import { useId } from 'react';
import { CAPABILITIES } from '../capabilities.ts';
import { usePushModel, usePushState } from '../hooks/push-context.ts';

/**
 * Renders the notification settings: the Web Push opt-in for this browser, message previews
 * and a mute for every conversation. Renders nothing while the back end has no Web Push.
 */
export function PushOptIn() {
  const push = usePushModel();
  const state = usePushState();
  const ids = useId();

  if (!CAPABILITIES.webPush) return null;
  const preferences = state.preferences;
  return (
    <section className="push-settings" aria-labelledby={`${ids}-heading`}>
      <h2 id={`${ids}-heading`}>Notifications</h2>
      {state.phase === 'loading' && <p role="status">Loading notification settings…</p>}
      {state.phase === 'failed' && (
        <button type="button" className="button secondary" onClick={() => void push.load()}>
          Try again
        </button>
      )}
      {state.phase === 'ready' &&
        state.canSubscribe &&
        (state.subscribed ? (
          <button
            type="button"
            className="button secondary"
            disabled={state.busy}
            onClick={() => void push.disable()}
          >
            Turn off notifications
          </button>
        ) : (
          <button
            type="button"
            className="button primary"
            disabled={state.busy || state.permission === 'denied'}
            onClick={() => void push.enable()}
          >
            {state.permission === 'denied' ? 'Notifications blocked' : 'Turn on notifications'}
          </button>
        ))}
      {state.phase === 'ready' && preferences !== null && (
        <>
          <label className="checkbox">
            <input
              type="checkbox"
              checked={preferences.previews}
              onChange={(event) => void push.setPreferences({ previews: event.target.checked })}
            />
            Show sender and text in notifications
          </label>
          <label className="checkbox">
            <input
              type="checkbox"
              checked={preferences.muted}
              onChange={(event) => void push.setPreferences({ muted: event.target.checked })}
            />
            Mute all notifications
          </label>
        </>
      )}
      <p className="push-message" role="status" aria-live="polite">
        {state.message ?? ''}
      </p>
    </section>
  );
}
