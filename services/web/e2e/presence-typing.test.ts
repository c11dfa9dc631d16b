import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { buildDirectConversationId } from '@switchboard/protocol';
import { ensureChromium, launchChromium, waitFor } from './browser.ts';
import {
  logInInApp,
  openDevice,
  rowPresenceDot,
  sendInApp,
  SocketControl,
  startChatWith,
  typingIndicator,
  waitForMessage,
  type Device,
} from './app-driver.ts';
import {
  nodeOf,
  registerOnOtherNode,
  registerUser,
  startWebCluster,
  type WebCluster,
} from './web-cluster.ts';

// Each case drives two real browser contexts, on different chat nodes, against a real embedded cluster.
const CASE_TIMEOUT_MS = 90_000;
/** Expiry of a typing `start` that the nodes send (SWB_TYPING_TTL_MS), plus slack for the poll. */
const TYPING_EXPIRY_WAIT_MS = 6000 + 3000;
/** Time in which the node's typing rate limit (SWB_TYPING_PER_SECOND, 2) refills its burst of 4. */
const TYPING_BURST_REFILL_MS = 2000;

let web: WebCluster;
let browser: Browser;
let devices: Device[] = [];

async function device(name: string): Promise<Device> {
  const opened = await openDevice(browser, web.origin, name);
  devices.push(opened);
  return opened;
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
  expect(opened.flatMap((entry) => entry.console.errors)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await web?.stop();
});

describe('presence and typing', () => {
  it(
    'presence, then last seen on leave',
    async () => {
      const alice = await registerUser(web.origin, 'pres_alice');
      const bob = await registerOnOtherNode(
        web.origin,
        'pres_bob',
        await nodeOf(web.origin, alice.accessToken),
      );
      const conv = buildDirectConversationId(alice.id, bob.id);
      const a = await device('alice');
      const b = await device('bob');
      await logInInApp(a.page, alice.username, alice.password);
      await logInInApp(b.page, bob.username, bob.password);

      await startChatWith(a.page, bob.username);
      await sendInApp(a.page, 'are you there?');
      await waitForMessage(a, 'are you there?');

      // Both see each other online: the dot in the list and the header of the open chat.
      await waitFor(
        async () => (await rowPresenceDot(a.page, conv).getAttribute('data-presence')) === 'online',
        "alice's row for bob shows him online",
      );
      expect(await rowPresenceDot(a.page, conv).getAttribute('aria-label')).toBe('Online');
      await expectSubtitle(a, /· Online$/);
      await waitFor(
        async () => (await rowPresenceDot(b.page, conv).getAttribute('data-presence')) === 'online',
        "bob's row for alice shows her online",
      );

      // Bob closes his tab: alice sees him offline, with the time he was last seen.
      const before = Date.now();
      await b.page.close({ runBeforeUnload: true });
      await waitFor(
        async () => (await rowPresenceDot(a.page, conv).getAttribute('data-presence')) === 'offline',
        "alice's row for bob shows him offline",
        40_000,
      );
      expect(await rowPresenceDot(a.page, conv).getAttribute('aria-label')).toBe('Offline');
      const subtitle = await expectSubtitle(a, /· Last seen today at /);
      const expectedTime = await a.page.evaluate(
        (ts) => new Date(ts).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' }),
        before,
      );
      const afterTime = await a.page.evaluate(() =>
        new Date().toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' }),
      );
      // The minute may roll over between the close and the check.
      expect([expectedTime, afterTime].some((time) => subtitle.endsWith(time))).toBe(true);
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'typing until stop or expiry',
    async () => {
      const alice = await registerUser(web.origin, 'type_alice');
      const bob = await registerOnOtherNode(
        web.origin,
        'type_bob',
        await nodeOf(web.origin, alice.accessToken),
      );
      const a = await device('alice');
      const sockets = await SocketControl.attach(a.context);
      await a.page.reload();
      const b = await device('bob');
      await logInInApp(a.page, alice.username, alice.password);
      await logInInApp(b.page, bob.username, bob.password);

      await startChatWith(a.page, bob.username);
      await sendInApp(a.page, 'hello');
      await b.page.locator('button.conversation', { hasText: 'hello' }).click();
      await waitForMessage(b, 'hello');
      expect(await typingIndicator(b.page).textContent()).toBe('');

      // Typing shows on the other node, and clearing the field sends `stop`, which hides it.
      const field = a.page.getByRole('textbox', { name: /^Message to / });
      await field.pressSequentially('I am wri');
      await waitFor(
        async () => (await typingIndicator(b.page).textContent()) === `${alice.username} is typing…`,
        'bob sees alice typing',
      );
      await field.fill('');
      await waitFor(
        async () => (await typingIndicator(b.page).textContent()) === '',
        'the indicator goes away on stop',
      );

      // Sending ends typing as well, and the message arrives.
      await a.page.waitForTimeout(TYPING_BURST_REFILL_MS);
      await field.pressSequentially('one more');
      await waitFor(
        async () => (await typingIndicator(b.page).textContent()) !== '',
        'bob sees alice typing again',
      );
      await field.press('Enter');
      await waitForMessage(b, 'one more');
      await waitFor(
        async () => (await typingIndicator(b.page).textContent()) === '',
        'the indicator goes away on send',
      );

      // A `stop` lost in transit: the indicator still ends when the `start` expires.
      // The node admits 2 typing frames per second with bursts of 4 and drops the rest, so
      // the test waits for the burst to refill, as a user's pause between messages would.
      await a.page.waitForTimeout(TYPING_BURST_REFILL_MS);
      sockets.dropFromPage = (text) => text.includes('"type":"typing"') && text.includes('"stop"');
      await field.pressSequentially('lost stop');
      await waitFor(
        async () => (await typingIndicator(b.page).textContent()) !== '',
        'bob sees alice typing a third time',
      );
      const startedAt = Date.now();
      await field.fill('');
      await a.page.waitForTimeout(1500);
      expect(await typingIndicator(b.page).textContent()).toBe(`${alice.username} is typing…`);
      await waitFor(
        async () => (await typingIndicator(b.page).textContent()) === '',
        'the indicator expires without a stop',
        TYPING_EXPIRY_WAIT_MS,
      );
      expect(Date.now() - startedAt).toBeGreaterThan(3000);
    },
    CASE_TIMEOUT_MS,
  );
});

/** Waits until the open chat's subtitle matches `pattern` and returns it. */
async function expectSubtitle(target: Device, pattern: RegExp): Promise<string> {
  let text = '';
  await waitFor(
    async () => {
      text = (await target.page.locator('.chat-subtitle').textContent()) ?? '';
      return pattern.test(text);
    },
    () => `${target.name}: the chat subtitle matches ${String(pattern)} (last seen: "${text}")`,
    40_000,
  );
  return text;
}
