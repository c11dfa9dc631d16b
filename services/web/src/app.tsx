import { useEffect } from 'react';
import { useChatModel, useChatSnapshot } from './hooks/chat-context.ts';
import { AuthScreen } from './components/auth-screen.tsx';
import { LiveRegion } from './components/live-region.tsx';
import { Messenger } from './components/messenger.tsx';
import { SESSION_KEY } from './model/saved-session.ts';

/** Renders the log-in form when signed out and the messenger when signed in. */
export function App() {
  const model = useChatModel();
  const snapshot = useChatSnapshot();

  useEffect(() => {
    const onOnline = () => model.setBrowserOnline(true);
    const onOffline = () => model.setBrowserOnline(false);
    const onStorage = (event: StorageEvent) => {
      if (event.key === SESSION_KEY) model.adoptStoredSession(event.newValue);
    };
    model.setBrowserOnline(navigator.onLine);
    window.addEventListener('online', onOnline);
    window.addEventListener('offline', onOffline);
    window.addEventListener('storage', onStorage);
    return () => {
      window.removeEventListener('online', onOnline);
      window.removeEventListener('offline', onOffline);
      window.removeEventListener('storage', onStorage);
    };
  }, [model]);

  return (
    <>
      {snapshot.phase === 'signed-out' ? (
        <AuthScreen notice={snapshot.notice} />
      ) : (
        <Messenger snapshot={snapshot} />
      )}
      <LiveRegion announcement={snapshot.announcement} />
    </>
  );
}
