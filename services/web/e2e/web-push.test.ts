import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CDPSession, Request } from 'playwright-core';
import { buildDirectConversationId } from '@switchboard/protocol';
import { ensureChromium, launchPersistentChromium, waitFor, watchConsole } from './browser.ts';
import {
  DESKTOP,
  logInInApp,
  sendInApp,
  SocketControl,
  startChatWith,
  waitForMessage,
  type Device,
} from './app-driver.ts';
import { SUBSCRIBE_TIMEOUT_MS } from '../src/model/push-model.ts';
import { registerUser, startWebCluster, type ApiUser, type WebCluster } from './web-cluster.ts';

const CASE_TIMEOUT_MS = 90_000;

// Each case runs its own Chromium with an ordinary profile, because Chromium has no Push API
// in the temporary profiles of browser.newContext().
let web: WebCluster;
let devices: Device[] = [];
const profiles: string[] = [];

/** Returns a fresh VAPID public key: an uncompressed P-256 point in base64url, as the API expects. */
function generateVapidPublicKey(): string {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x!, 'base64url'),
    Buffer.from(jwk.y!, 'base64url'),
  ]);
  return point.toString('base64url');
}

/** Launches Chromium with a new profile and opens the app; `beforeLoad` runs before the first load. */
async function openPersistentDevice(
  name: string,
  beforeLoad: (device: Device) => Promise<void> = async () => undefined,
): Promise<Device> {
  const profile = mkdtempSync(join(tmpdir(), 'switchboard-web-push-profile-'));
  profiles.push(profile);
  const context = await launchPersistentChromium(profile, { viewport: DESKTOP });
  context.setDefaultTimeout(10_000);
  await context.grantPermissions(['notifications'], { origin: web.origin });
  const page = context.pages()[0] ?? (await context.newPage());
  const opened: Device = { name, context, page, console: watchConsole(page, name) };
  devices.push(opened);
  await beforeLoad(opened);
  await page.goto(web.origin);
  return opened;
}

async function loggedIn(user: ApiUser): Promise<Device> {
  const opened = await openPersistentDevice(user.username);
  await logInInApp(opened.page, user.username, user.password);
  return opened;
}

async function apiGet<T>(user: ApiUser, path: string): Promise<T> {
  const response = await fetch(`${web.origin}${path}`, {
    headers: { authorization: `Bearer ${user.accessToken}` },
  });
  if (response.status !== 200) throw new Error(`GET ${path} failed with HTTP ${response.status}`);
  return (await response.json()) as T;
}

/** Returns the id of the service worker registration of `origin`, from the DevTools protocol. */
async function registrationIdOf(session: CDPSession, origin: string): Promise<string> {
  let found: string | null = null;
  session.on('ServiceWorker.workerRegistrationUpdated', (event) => {
    for (const registration of event.registrations) {
      if (!registration.isDeleted && registration.scopeURL.startsWith(origin))
        found = registration.registrationId;
    }
  });
  await session.send('ServiceWorker.enable');
  await waitFor(() => found !== null, `a service worker registration of ${origin} is reported over CDP`);
  return found!;
}

beforeAll(async () => {
  ensureChromium();
  web = await startWebCluster({
    push: {
      vapidPublicKey: generateVapidPublicKey(),
      fcm: false,
      apns: false,
      allowedHosts: [
        'fcm.googleapis.com',
        '.push.services.mozilla.com',
        '.notify.windows.com',
        '.push.apple.com',
      ],
    },
  });
}, 600_000);

afterEach(async () => {
  const opened = devices;
  devices = [];
  for (const { context } of opened) await context.close();
  for (const profile of profiles.splice(0)) rmSync(profile, { recursive: true, force: true });
  expect(opened.flatMap((entry) => entry.console.errors)).toEqual([]);
});

afterAll(async () => {
  await web?.stop();
});

describe('web push', () => {
  it(
    'pushed notification reaches the page',
    async () => {
      const alice = await registerUser(web.origin, 'sw_alice');
      const bob = await registerUser(web.origin, 'sw_bob');
      const conv = buildDirectConversationId(alice.id, bob.id);
      const a = await loggedIn(alice);

      const scriptUrl = await a.page.evaluate(
        async () => (await navigator.serviceWorker.ready).active?.scriptURL,
      );
      expect(scriptUrl).toBe(`${web.origin}/sw.js`);
      // The page records what the service worker posts to it.
      await a.page.evaluate(() => {
        const seen: unknown[] = [];
        (window as unknown as { pushMessages: unknown[] }).pushMessages = seen;
        navigator.serviceWorker.addEventListener('message', (event) => seen.push(event.data));
      });

      const session = await a.context.newCDPSession(a.page);
      const registrationId = await registrationIdOf(session, web.origin);
      const payload = {
        conv,
        seq: 3,
        unread: 1,
        title: 'sw_bob',
        body: 'are you coming?',
        data: { kind: 'message' },
      };
      await session.send('ServiceWorker.deliverPushMessage', {
        origin: web.origin,
        registrationId,
        data: JSON.stringify(payload),
      });

      let posted: unknown[] = [];
      await waitFor(async () => {
        posted = await a.page.evaluate(() => (window as unknown as { pushMessages: unknown[] }).pushMessages);
        return posted.length > 0;
      }, 'the service worker posts the push to the page');
      expect(posted).toEqual([{ type: 'push', conv, title: 'sw_bob', body: 'are you coming?' }]);
      const notifications = await a.page.evaluate(async () => {
        const registration = await navigator.serviceWorker.ready;
        return (await registration.getNotifications()).map((shown) => ({
          title: shown.title,
          body: shown.body,
          tag: shown.tag,
          data: shown.data as unknown,
        }));
      });
      expect(notifications).toEqual([
        { title: 'sw_bob', body: 'are you coming?', tag: conv, data: { conv } },
      ]);

      // A payload that is not JSON still shows, with the text as its body.
      await session.send('ServiceWorker.deliverPushMessage', {
        origin: web.origin,
        registrationId,
        data: 'plain text',
      });
      await waitFor(
        async () =>
          (await a.page.evaluate(
            async () => (await (await navigator.serviceWorker.ready).getNotifications()).length,
          )) === 2,
        'a second notification shows',
      );
      await session.detach();
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'opt-in registers or explains failure',
    async () => {
      const alice = await registerUser(web.origin, 'opt_alice');
      const a = await loggedIn(alice);
      const posts: Request[] = [];
      a.page.on('request', (request) => {
        if (request.method() === 'POST' && request.url().endsWith('/v1/push/subscriptions'))
          posts.push(request);
      });

      await a.page.getByRole('button', { name: 'Settings' }).click();
      const settings = a.page.getByRole('region', { name: 'Notifications' });
      await settings.getByRole('button', { name: 'Turn on notifications' }).click();
      const message = settings.locator('.push-message');
      let text = '';
      await waitFor(
        async () => {
          text = (await message.textContent()) ?? '';
          return text !== '';
        },
        'the opt-in reports its outcome',
        SUBSCRIBE_TIMEOUT_MS + 10_000,
      );

      const listed = await apiGet<{ subscriptions: Array<{ id: string; kind: string }> }>(
        alice,
        '/v1/push/subscriptions',
      );
      if (text.startsWith('This browser could not subscribe to push notifications:')) {
        // Headless Chromium has no reachable push service, so the page reports that and registers nothing.
        expect(posts).toEqual([]);
        expect(listed.subscriptions).toEqual([]);
        expect(await settings.getByRole('button', { name: 'Turn on notifications' }).isEnabled()).toBe(true);
      } else {
        expect(text).toBe('Notifications are on for this browser.');
        expect(posts).toHaveLength(1);
        expect(listed.subscriptions.map((subscription) => subscription.kind)).toEqual(['webpush']);
        await settings.getByRole('button', { name: 'Turn off notifications' }).click();
        await settings.getByText('Notifications are off for this browser.').waitFor();
        const after = await apiGet<{ subscriptions: unknown[] }>(alice, '/v1/push/subscriptions');
        expect(after.subscriptions).toEqual([]);
      }
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'saves previews, mutes and activity',
    async () => {
      const alice = await registerUser(web.origin, 'set_alice');
      const bob = await registerUser(web.origin, 'set_bob');
      const conv = buildDirectConversationId(alice.id, bob.id);
      const frames: string[] = [];
      const a = await openPersistentDevice('alice', async (device) => {
        const sockets = await SocketControl.attach(device.context);
        sockets.dropFromPage = (text) => {
          if (text.includes('"type":"activity"')) frames.push(text);
          return false;
        };
      });
      await logInInApp(a.page, alice.username, alice.password);

      await a.page.getByRole('button', { name: 'Settings' }).click();
      const settings = a.page.getByRole('region', { name: 'Notifications' });
      await settings.getByRole('checkbox', { name: 'Show sender and text in notifications' }).uncheck();
      await settings.getByRole('checkbox', { name: 'Mute all notifications' }).check();
      await waitFor(async () => {
        const saved = await apiGet<{ muted: boolean; previews: boolean }>(alice, '/v1/push/settings');
        return saved.muted && !saved.previews;
      }, 'the API stores previews off and the global mute');

      await startChatWith(a.page, bob.username);
      await sendInApp(a.page, 'muting this one');
      await waitForMessage(a, 'muting this one');
      const mute = a.page.getByRole('button', { name: /^Mute/ });
      expect(await mute.getAttribute('aria-pressed')).toBe('false');
      await mute.click();
      await waitFor(
        async () =>
          (
            await apiGet<{ mutedConversations: string[] }>(alice, '/v1/push/settings')
          ).mutedConversations.includes(conv),
        'the API stores the conversation mute',
      );
      expect(await mute.getAttribute('aria-pressed')).toBe('true');
      await mute.click();
      await waitFor(
        async () =>
          !(
            await apiGet<{ mutedConversations: string[] }>(alice, '/v1/push/settings')
          ).mutedConversations.includes(conv),
        'the API drops the conversation mute',
      );

      // The tab goes to the background and back. Headless Chromium keeps its page visible, so
      // the test sets the visibility the way a hidden tab reports it and fires the event.
      await a.page.evaluate(() => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await waitFor(
        () => frames.includes('{"type":"activity","state":"background"}'),
        () => `the page sends activity background (frames: ${JSON.stringify(frames)})`,
      );
      await a.page.evaluate(() => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await waitFor(
        () => frames.at(-1) === '{"type":"activity","state":"foreground"}',
        () => `the page sends activity foreground (frames: ${JSON.stringify(frames)})`,
      );
    },
    CASE_TIMEOUT_MS,
  );
});
