/* global self, URL */
// Service worker of the Switchboard web client. It shows the notifications that the push
// service delivers while no tab is in the foreground, and opens the conversation on a click.
// The payload is the push worker's JSON notification: `conv`, `title` and `body`, among others.
// With previews off, the server leaves out the sender and the text.

const FALLBACK_TITLE = 'Switchboard';
const FALLBACK_BODY = 'New message';

self.addEventListener('install', () => {
  // A new version takes over at once: it only shows notifications, so no page depends on the old one.
  void self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('push', (event) => {
  const payload = readPayload(event.data);
  const conv = typeof payload.conv === 'string' ? payload.conv : null;
  const title = typeof payload.title === 'string' && payload.title !== '' ? payload.title : FALLBACK_TITLE;
  const body = typeof payload.body === 'string' && payload.body !== '' ? payload.body : FALLBACK_BODY;
  event.waitUntil(
    (async () => {
      await self.registration.showNotification(title, {
        body,
        icon: '/favicon.svg',
        // One notification per conversation: a newer message replaces the older one.
        tag: conv ?? 'switchboard',
        data: { conv },
      });
      // Open tabs hear of the push after the notification exists.
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const client of windows) client.postMessage({ type: 'push', conv, title, body });
    })(),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const conv = event.notification.data?.conv ?? null;
  const path = conv === null ? '/' : `/#/c/${encodeURIComponent(conv)}`;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
      if (open !== undefined) {
        await open.focus();
        if (conv !== null) open.postMessage({ type: 'open', conv });
        return;
      }
      await self.clients.openWindow(new URL(path, self.location.origin).href);
    })(),
  );
});

/** Parses the push payload. A payload that is not JSON becomes the notification's text. */
function readPayload(data) {
  if (data === null || data === undefined) return {};
  try {
    const parsed = data.json();
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    return { body: data.text() };
  }
}
