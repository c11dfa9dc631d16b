import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.tsx';
import { ChatModelContext } from './hooks/chat-context.ts';
import { PushModelContext } from './hooks/push-context.ts';
import { formatRoute } from './hooks/use-hash-route.ts';
import { ChatModel } from './model/chat-model.ts';
import { PushModel, SERVICE_WORKER_URL } from './model/push-model.ts';
import './styles.css';

const container = document.getElementById('root');
if (container === null) throw new Error('index.html has no element with id "root"');

// The API, the router and this page share one origin.
const model = new ChatModel({ apiUrl: window.location.origin, storage: window.localStorage });
model.start();
const push = new PushModel(model, window.localStorage);
let signedIn = model.getSnapshot().phase === 'signed-in';
model.subscribe(() => {
  const now = model.getSnapshot().phase === 'signed-in';
  if (signedIn && !now) push.reset();
  signedIn = now;
});

// The node pushes notifications only while no tab of the user is in the foreground.
const reportActivity = () =>
  model.setActivity(document.visibilityState === 'visible' ? 'foreground' : 'background');
reportActivity();
document.addEventListener('visibilitychange', reportActivity);

if ('serviceWorker' in navigator) {
  // The service worker shows pushed notifications, and a click on one makes this page open
  // its conversation. It does nothing until the user turns notifications on in the settings.
  navigator.serviceWorker.register(SERVICE_WORKER_URL).catch((err: unknown) => {
    console.warn('the service worker could not be registered', err);
  });
  navigator.serviceWorker.addEventListener('message', (event: MessageEvent<unknown>) => {
    const data = event.data as { type?: unknown; conv?: unknown } | null;
    if (data?.type === 'open' && typeof data.conv === 'string') {
      window.location.hash = formatRoute({ view: 'chat', conv: data.conv });
    }
  });
}
// A page that goes away closes its socket cleanly; the client state is already saved.
window.addEventListener('pagehide', () => model.dispose());
// A page restored from the back-forward cache has a closed client, so it loads afresh.
window.addEventListener('pageshow', (event) => {
  if (event.persisted) window.location.reload();
});

createRoot(container).render(
  <StrictMode>
    <ChatModelContext.Provider value={model}>
      <PushModelContext.Provider value={push}>
        <App />
      </PushModelContext.Provider>
    </ChatModelContext.Provider>
  </StrictMode>,
);
