import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { SwitchboardClient } from '@switchboard/client';
import { buildDirectConversationId } from '@switchboard/protocol';
import { ensureChromium, launchChromium, waitFor } from './browser.ts';
import {
  accessTokenOf,
  logInInApp,
  messageRows,
  openDevice,
  PHONE,
  registerInApp,
  sendInApp,
  shownBodies,
  SocketControl,
  startChatWith,
  waitForMessage,
  waitForStatus,
  type Device,
} from './app-driver.ts';
import {
  nodeOf,
  readHistory,
  registerOnOtherNode,
  registerUser,
  startWebCluster,
  unreadOnServer,
  type ApiUser,
  type WebCluster,
} from './web-cluster.ts';

// Each case drives two real browser contexts against a real embedded cluster.
const CASE_TIMEOUT_MS = 90_000;

let web: WebCluster;
let browser: Browser;
let devices: Device[] = [];

async function device(name: string, options: Parameters<typeof openDevice>[3] = {}): Promise<Device> {
  const opened = await openDevice(browser, web.origin, name, options);
  devices.push(opened);
  return opened;
}

/** Registers two users on different chat nodes and logs each in from its own browser context. */
async function loggedInPair(prefix: string): Promise<{ a: Device; b: Device; alice: ApiUser; bob: ApiUser }> {
  const alice = await registerUser(web.origin, `${prefix}a`);
  const bob = await registerOnOtherNode(
    web.origin,
    `${prefix}b`,
    await nodeOf(web.origin, alice.accessToken),
  );
  const a = await device(`${prefix} alice`);
  const b = await device(`${prefix} bob`);
  await logInInApp(a.page, alice.username, alice.password);
  await logInInApp(b.page, bob.username, bob.password);
  return { a, b, alice, bob };
}

/** Returns how many pixels the page is wider than its viewport; 0 when nothing scrolls sideways. */
function horizontalOverflow(target: Device): Promise<number> {
  return target.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

beforeAll(async () => {
  ensureChromium();
  web = await startWebCluster();
  browser = await launchChromium();
}, 600_000);

afterEach(async () => {
  const opened = devices;
  devices = [];
  for (const { context } of opened) await context.close();
  // Any console error or uncaught exception in any page fails the case that caused it.
  expect(opened.flatMap((entry) => entry.console.errors)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await web?.stop();
});

describe('web client', () => {
  it(
    'exchanges messages across chat nodes up to read ticks',
    async () => {
      const a = await device('alice');
      await registerInApp(a.page, 'alice', 'alice-secret');
      const aliceToken = await accessTokenOf(a.page);
      const aliceNode = await nodeOf(web.origin, aliceToken);
      const aliceId = await a.page.evaluate(
        () => (JSON.parse(localStorage.getItem('switchboard.session')!) as { user: { id: string } }).user.id,
      );
      const bob = await registerOnOtherNode(web.origin, 'bob', aliceNode);
      expect(await nodeOf(web.origin, bob.accessToken)).not.toBe(aliceNode);

      const b = await device('bob');
      await logInInApp(b.page, bob.username, bob.password);

      await startChatWith(a.page, bob.username);
      await sendInApp(a.page, 'hello bob');
      await waitForMessage(a, 'hello bob');

      // Bob's list shows the new conversation with one unread message before he opens it.
      const row = b.page.locator('button.conversation', { hasText: 'hello bob' });
      await row.waitFor({ timeout: 10_000 });
      await waitFor(
        async () => (await row.locator('.unread-badge').getAttribute('data-unread')) === '1',
        "bob's conversation row shows 1 unread message",
      );
      await waitForStatus(a, 'hello bob', 'delivered');

      // Bob opens it from the keyboard: Tab from the search field reaches the row, with a visible focus ring.
      await b.page.getByRole('searchbox', { name: 'Find people by user name' }).focus();
      await b.page.keyboard.press('Tab');
      const focused = await b.page.evaluate(() => {
        const element = document.activeElement as HTMLElement;
        return { conv: element.dataset.conv ?? null, outline: getComputedStyle(element).outlineStyle };
      });
      expect(focused.conv).toBe(buildDirectConversationId(aliceId, bob.id));
      expect(focused.outline).not.toBe('none');
      await b.page.keyboard.press('Enter');
      await waitForMessage(b, 'hello bob');
      await waitForStatus(a, 'hello bob', 'read');
      await waitFor(
        async () => (await row.locator('.unread-badge').count()) === 0,
        "bob's unread badge clears",
      );

      await sendInApp(b.page, 'hi alice');
      await waitForMessage(a, 'hi alice');
      await waitForStatus(b, 'hi alice', 'read');
      // The live region announces the incoming message for screen readers.
      await waitFor(
        async () => (await a.page.getByTestId('announcements').textContent())?.includes('hi alice') === true,
        "alice's live region announces bob's message",
      );
      expect(await shownBodies(a.page)).toEqual(['hello bob', 'hi alice']);
      expect(await shownBodies(b.page)).toEqual(['hello bob', 'hi alice']);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'loses nothing across a reload mid-conversation',
    async () => {
      const { a, b, alice, bob } = await loggedInPair('reload');
      const conv = buildDirectConversationId(alice.id, bob.id);
      const sockets = await SocketControl.attach(a.context);
      await a.page.reload();
      await a.page.getByRole('button', { name: 'Log out' }).waitFor({ timeout: 10_000 });

      await startChatWith(a.page, bob.username);
      await sendInApp(a.page, 'first');
      await waitForStatus(a, 'first', ['sent', 'delivered', 'read']);
      await b.page.locator('button.conversation', { hasText: 'first' }).click();
      await waitForMessage(b, 'first');

      // The send frame is lost in transit, so at the reload the message exists only in the
      // outbox that the app saved in localStorage.
      sockets.dropFromPage = (text) => text.includes('"type":"send"');
      await sendInApp(a.page, 'sent just before the reload');
      await waitForStatus(a, 'sent just before the reload', 'sending');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await messageRows(b.page, 'sent just before the reload').count()).toBe(0);

      sockets.dropFromPage = () => false;
      const reload = a.page.reload();
      await sendInApp(b.page, 'sent during the reload');
      await reload;

      await a.page.getByRole('heading', { level: 2, name: bob.username }).waitFor({ timeout: 10_000 });
      for (const body of ['first', 'sent just before the reload', 'sent during the reload']) {
        await waitForMessage(a, body);
        await waitForMessage(b, body);
      }
      await waitForStatus(a, 'sent just before the reload', 'read');
      await waitForStatus(b, 'sent during the reload', 'read');
      expect(await shownBodies(a.page)).toEqual(await shownBodies(b.page));

      const stored = await readHistory(web.origin, alice, conv);
      expect(stored.map((message) => message.body).sort()).toEqual(
        ['first', 'sent during the reload', 'sent just before the reload'].sort(),
      );
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'delivers messages queued offline once after the network returns',
    async () => {
      const alice = await registerUser(web.origin, 'offlinea');
      const bob = await registerOnOtherNode(
        web.origin,
        'offlineb',
        await nodeOf(web.origin, alice.accessToken),
      );
      const conv = buildDirectConversationId(alice.id, bob.id);

      // Alice's sockets go through Playwright, so the test can cut them as a dropped network would.
      const a = await device('offline alice');
      const sockets = await SocketControl.attach(a.context);
      await a.page.reload();
      const b = await device('offline bob');
      await logInInApp(a.page, alice.username, alice.password);
      await logInInApp(b.page, bob.username, bob.password);

      await startChatWith(a.page, bob.username);
      await sendInApp(a.page, 'online before the cut');
      await b.page.locator('button.conversation', { hasText: 'online before the cut' }).click();
      await waitForStatus(a, 'online before the cut', 'read');

      a.console.networkCut = true;
      await a.context.setOffline(true);
      await sockets.cut();
      await a.page.getByRole('status').filter({ hasText: 'You are offline' }).waitFor({ timeout: 10_000 });

      await sendInApp(a.page, 'queued one');
      await sendInApp(a.page, 'queued two');
      await sendInApp(b.page, 'sent while alice was offline');
      await waitForStatus(a, 'queued one', 'sending');
      await waitForStatus(a, 'queued two', 'sending');
      // Nothing leaks out while the network is down.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(await messageRows(b.page, 'queued one').count()).toBe(0);

      sockets.restore();
      await a.context.setOffline(false);
      await waitForStatus(a, 'queued one', 'read', 20_000);
      await waitForStatus(a, 'queued two', 'read', 20_000);
      a.console.networkCut = false;
      await waitForMessage(a, 'sent while alice was offline');
      await waitForMessage(b, 'queued one');
      await waitForMessage(b, 'queued two');
      await waitFor(
        async () => (await a.page.locator('.offline-banner[data-visible="true"]').count()) === 0,
        "alice's offline banner goes away",
      );

      const bodies = await shownBodies(b.page);
      expect(bodies.indexOf('queued one')).toBeLessThan(bodies.indexOf('queued two'));
      const stored = await readHistory(web.origin, alice, conv);
      const queued = stored.filter((message) => message.body.startsWith('queued'));
      expect(queued.map((message) => message.body)).toEqual(['queued one', 'queued two']);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'loads older history pages on scroll at phone width',
    async () => {
      const alice = await registerUser(web.origin, 'historya');
      const bob = await registerUser(web.origin, 'historyb');
      const conv = buildDirectConversationId(alice.id, bob.id);
      const sender = new SwitchboardClient({ apiUrl: web.origin });
      await sender.login(bob.username, bob.password);
      await sender.connect();
      // The newest message is wider than a phone, so its preview in the list must be cut, not overflow.
      const expected = Array.from({ length: 45 }, (_, i) => `message ${i + 1}`);
      expected[44] = 'message 45 is longer than a phone screen is wide, so the list cuts its preview';
      for (const body of expected) await sender.send({ to: alice.id }, body);
      await sender.close();

      const a = await device('history alice', { viewport: PHONE });
      await logInInApp(a.page, alice.username, alice.password);
      const row = a.page.locator('button.conversation', { hasText: 'message 45' });
      await waitFor(
        async () =>
          (await row
            .locator('.unread-badge')
            .getAttribute('data-unread')
            .catch(() => null)) === '45',
        'the conversation row shows 45 unread messages',
      );
      expect(await horizontalOverflow(a)).toBe(0);
      await row.click();
      // At phone width the chat replaces the list.
      expect(await a.page.locator('aside.sidebar').isVisible()).toBe(false);

      await waitFor(
        async () => JSON.stringify(await shownBodies(a.page)) === JSON.stringify(expected.slice(25)),
        'the chat shows the newest page: messages 26 to 45',
      );
      expect(await a.page.locator('li.day-separator').first().textContent()).toBe('Today');

      const scroller = a.page.getByRole('region', { name: /^Messages with / });
      for (const count of [40, 45]) {
        await scroller.evaluate((element) => {
          element.scrollTop = 0;
        });
        await waitFor(
          async () => (await shownBodies(a.page)).length === count,
          `scrolling to the top loads older messages, up to ${count}`,
        );
      }
      expect(await shownBodies(a.page)).toEqual(expected);
      await a.page.getByText('This is the start of the conversation.').waitFor({ timeout: 5_000 });
      expect(await horizontalOverflow(a)).toBe(0);

      // Back at the newest message, everything has been on screen once, so all of it is read.
      await scroller.evaluate((element) => {
        element.scrollTop = element.scrollHeight;
      });
      let unread: number | null = null;
      await waitFor(
        async () => (unread = await unreadOnServer(web.origin, alice, conv)) === 0,
        () => `the read receipt reaches the server (unread there: ${String(unread)})`,
      );
      await a.page.getByRole('button', { name: 'Back to conversations' }).click();
      await waitFor(
        async () => (await row.locator('.unread-badge').count()) === 0,
        'reading clears the unread badge',
      );
    },
    CASE_TIMEOUT_MS,
  );
});
