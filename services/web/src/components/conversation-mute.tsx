import { CAPABILITIES } from '../capabilities.ts';
import { usePushModel, usePushState } from '../hooks/push-context.ts';

/** Renders a toggle that mutes the notifications of one conversation, once the push settings loaded. */
export function ConversationMute({ conv }: { conv: string }) {
  const push = usePushModel();
  const state = usePushState();
  if (!CAPABILITIES.webPush || state.phase !== 'ready') return null;
  const muted = state.mutedConversations.has(conv);
  return (
    <button
      type="button"
      className="button secondary"
      aria-pressed={muted}
      onClick={() => void push.setConversationMuted(conv, !muted)}
    >
      Mute<span className="visually-hidden"> notifications of this conversation</span>
    </button>
  );
}
