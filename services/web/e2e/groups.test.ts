import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ensureChromium, launchChromium, waitFor } from './browser.ts';
import {
  createGroupInApp,
  logInInApp,
  openDevice,
  PHONE,
  pickMembers,
  sendInApp,
  shownTimeline,
  typingIndicator,
  waitForMessage,
  type Device,
} from './app-driver.ts';
import {
  nodeOf,
  registerOnOtherNode,
  registerUser,
  startWebCluster,
  type ApiUser,
  type WebCluster,
} from './web-cluster.ts';

// Each case drives three real browser contexts against a real embedded cluster with two chat nodes.
const CASE_TIMEOUT_MS = 120_000;

let web: WebCluster;
let browser: Browser;
let devices: Device[] = [];

async function loggedIn(user: ApiUser, options: Parameters<typeof openDevice>[3] = {}): Promise<Device> {
  const opened = await openDevice(browser, web.origin, user.username, options);
  devices.push(opened);
  await logInInApp(opened.page, user.username, user.password);
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

describe('groups', () => {
  it(
    'three members see member changes',
    async () => {
      const alice = await registerUser(web.origin, 'grp_alice');
      const bob = await registerOnOtherNode(
        web.origin,
        'grp_bob',
        await nodeOf(web.origin, alice.accessToken),
      );
      const carol = await registerUser(web.origin, 'grp_carol');
      const a = await loggedIn(alice);
      const b = await loggedIn(bob);
      const c = await loggedIn(carol);

      // Alice creates the group with Bob. It opens for her and appears in Bob's list.
      await createGroupInApp(a.page, 'Weekend trip', [bob.username]);
      const conv = await a.page.evaluate(() => decodeURIComponent(window.location.hash.slice('#/c/'.length)));
      expect(conv).toMatch(/^g\./);
      await waitForTimeline(a, ['[You created the group “Weekend trip”]']);
      await openRow(b.page, conv);
      await waitForTimeline(b, [`[${alice.username} created the group “Weekend trip”]`]);
      await waitForSubtitle(b, '2 members · group');

      // Alice adds Carol from the group info, and everyone sees the change.
      await a.page.getByRole('button', { name: 'Group info' }).click();
      const addForm = a.page.getByRole('form', { name: 'Add members' });
      await pickMembers(addForm, 'Add members by user name', [carol.username]);
      await addForm.getByRole('button', { name: 'Add to group' }).click();
      await waitForTimeline(a, ['[You created the group “Weekend trip”]', `[You added ${carol.username}]`]);
      await waitForTimeline(b, [
        `[${alice.username} created the group “Weekend trip”]`,
        `[${alice.username} added ${carol.username}]`,
      ]);
      await openRow(c.page, conv);
      await waitForTimeline(c, [`[${alice.username} added you]`]);
      await waitForSubtitle(a, '3 members · group');

      // Messages from the three of them, with the sender's name on the ones from others.
      await sendInApp(b.page, 'hi all');
      await waitForMessage(a, 'hi all');
      await waitForMessage(c, 'hi all');
      await sendInApp(c.page, 'hello from carol');
      await waitForMessage(a, 'hello from carol');
      await waitForMessage(b, 'hello from carol');
      await sendInApp(a.page, 'saturday works');
      await waitForMessage(b, 'saturday works');
      await waitForMessage(c, 'saturday works');
      expect(await senderOf(a.page, 'hi all')).toBe(bob.username);
      expect(await senderOf(b.page, 'hello from carol')).toBe(carol.username);
      expect(await senderOf(c.page, 'saturday works')).toBe(alice.username);
      expect(await a.page.locator('li.message[data-own=true] .sender').count()).toBe(0);

      // Typing shows in groups too, with the typist's name.
      await c.page.getByRole('textbox', { name: /^Message to / }).pressSequentially('let me ch');
      await waitFor(
        async () => (await typingIndicator(a.page).textContent()) === `${carol.username} is typing…`,
        'alice sees carol typing in the group',
      );
      await c.page.getByRole('textbox', { name: /^Message to / }).fill('');

      // Carol is no admin: she may leave, but sees no controls to rename or remove.
      await c.page.getByRole('button', { name: 'Group info' }).click();
      const members = c.page.getByRole('list', { name: 'Members' });
      await members.locator('li').nth(2).waitFor();
      expect(await members.locator('li').count()).toBe(3);
      expect(await c.page.getByRole('button', { name: /^Remove / }).count()).toBe(0);
      expect(await c.page.getByRole('form', { name: 'Rename group' }).count()).toBe(0);
      expect(await members.locator(`li[data-member="${alice.username}"] .role-badge`).textContent()).toBe(
        'admin',
      );

      // Alice renames the group: the new name reaches the headers of the others.
      const rename = a.page.getByRole('form', { name: 'Rename group' });
      await rename.getByLabel('Group name').fill('Ski trip');
      await rename.getByRole('button', { name: 'Rename' }).click();
      await b.page.getByRole('heading', { level: 2, name: 'Ski trip' }).waitFor();
      await c.page.getByRole('heading', { level: 2, name: 'Ski trip' }).waitFor();
      await waitForTimelineEnd(b, `[${alice.username} renamed the group to “Ski trip”]`);

      // Alice removes Bob: he keeps what he had and can no longer write.
      await a.page.getByRole('button', { name: `Remove ${bob.username}` }).click();
      await waitForTimelineEnd(b, `[${alice.username} removed you]`);
      await b.page.locator('.read-only-note', { hasText: 'no longer a member' }).waitFor();
      expect(await b.page.getByRole('textbox', { name: /^Message to / }).count()).toBe(0);
      await waitForTimelineEnd(c, `[${alice.username} removed ${bob.username}]`);

      // Carol leaves. Alice sees it, and the member count drops to one.
      await c.page.getByRole('button', { name: 'Leave group' }).click();
      await c.page.locator('.read-only-note', { hasText: 'no longer a member' }).waitFor();
      await waitForTimelineEnd(a, `[${carol.username} left]`);
      await waitForSubtitle(a, '1 member · group');
      await sendInApp(a.page, 'just me now');
      await waitForMessage(a, 'just me now');
      await b.page.waitForTimeout(500);
      expect(await shownTimeline(b.page)).not.toContain('just me now');
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'keyboard group creation at phone width',
    async () => {
      const alice = await registerUser(web.origin, 'kbd_alice');
      const bob = await registerUser(web.origin, 'kbd_bob');
      const a = await loggedIn(alice, { viewport: PHONE });

      await a.page.getByRole('button', { name: 'New group' }).focus();
      await a.page.keyboard.press('Enter');
      await a.page.keyboard.press('Tab');
      expect(await focused(a)).toMatchObject({ tag: 'input', text: 'Group name' });
      await a.page.keyboard.type('Book club');
      await a.page.keyboard.press('Tab');
      await a.page.keyboard.type(bob.username);
      await a.page.getByRole('list', { name: `Matches for ${bob.username}` }).waitFor();
      await a.page.keyboard.press('Tab');
      const match = await focused(a);
      expect(match.text).toContain(`@${bob.username}`);
      expect(match.outline).toBe('solid');
      await a.page.keyboard.press('Enter');
      // Focus returns to the search field; the picked person follows, then the submit button.
      expect((await focused(a)).tag).toBe('input');
      await a.page.keyboard.press('Tab');
      expect((await focused(a)).text).toContain(bob.username);
      await a.page.keyboard.press('Tab');
      expect((await focused(a)).text).toBe('Create group');
      expect(await horizontalOverflow(a)).toBeLessThanOrEqual(0);
      await a.page.keyboard.press('Enter');

      await a.page.getByRole('heading', { level: 2, name: 'Book club' }).waitFor();
      expect((await focused(a)).text).toBe('Book club');
      await waitForTimeline(a, ['[You created the group “Book club”]']);
      await a.page.getByRole('button', { name: 'Group info' }).focus();
      await a.page.keyboard.press('Enter');
      await a.page
        .getByRole('list', { name: 'Members' })
        .locator(`li[data-member="${bob.username}"]`)
        .waitFor();
      expect(await horizontalOverflow(a)).toBeLessThanOrEqual(0);
      await a.page.keyboard.press('Tab');
      expect((await focused(a)).text).toBe('Group name');
    },
    CASE_TIMEOUT_MS,
  );

  it(
    'channel read-only for non-admins',
    async () => {
      const alice = await registerUser(web.origin, 'chan_alice');
      const bob = await registerUser(web.origin, 'chan_bob');
      const response = await fetch(`${web.origin}/v1/groups`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Announcements', kind: 'channel', members: [bob.id] }),
      });
      expect(response.status).toBe(201);
      const { conv } = (await response.json()) as { conv: string };

      const a = await loggedIn(alice);
      const b = await loggedIn(bob);
      await openRow(a.page, conv);
      await sendInApp(a.page, 'office closed on friday');
      await openRow(b.page, conv);
      await waitForMessage(b, 'office closed on friday');
      await b.page.locator('.read-only-note', { hasText: 'Only admins post in this channel' }).waitFor();
      expect(await b.page.getByRole('textbox', { name: /^Message to / }).count()).toBe(0);
      await waitForSubtitle(b, '2 members · channel');
      expect(await a.page.getByRole('textbox', { name: /^Message to / }).count()).toBe(1);
    },
    CASE_TIMEOUT_MS,
  );
});

/** Returns how many pixels the page is wider than its viewport; 0 when nothing scrolls sideways. */
function horizontalOverflow(target: Device): Promise<number> {
  return target.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

/** Returns the accessible name and outline style of the focused element. */
function focused(target: Device): Promise<{ text: string; outline: string; tag: string }> {
  return target.page.evaluate(() => {
    const element = document.activeElement as HTMLElement & { labels?: NodeListOf<HTMLLabelElement> };
    const label = element.labels?.[0]?.textContent;
    return {
      text: element.getAttribute('aria-label') ?? label ?? element.textContent ?? '',
      outline: getComputedStyle(element).outlineStyle,
      tag: element.tagName.toLowerCase(),
    };
  });
}

async function openRow(page: Page, conv: string): Promise<void> {
  await page.locator(`button.conversation[data-conv="${conv}"]`).click({ timeout: 15_000 });
  await page.locator('h2#chat-title').waitFor();
}

async function senderOf(page: Page, body: string): Promise<string | null> {
  return page
    .locator('li.message', { has: page.locator('p.body', { hasText: body }) })
    .locator('.sender')
    .evaluate((element) => element.firstChild?.textContent ?? null);
}

async function waitForTimeline(target: Device, expected: readonly string[]): Promise<void> {
  let shown: string[] = [];
  await waitFor(
    async () => {
      shown = await shownTimeline(target.page);
      return JSON.stringify(shown) === JSON.stringify(expected);
    },
    () => `${target.name} shows ${JSON.stringify(expected)} (it shows ${JSON.stringify(shown)})`,
  );
}

async function waitForTimelineEnd(target: Device, last: string): Promise<void> {
  let shown: string[] = [];
  await waitFor(
    async () => {
      shown = await shownTimeline(target.page);
      return shown.at(-1) === last;
    },
    () => `${target.name} shows "${last}" last (it shows ${JSON.stringify(shown)})`,
  );
}

async function waitForSubtitle(target: Device, expected: string): Promise<void> {
  let text: string | null = null;
  await waitFor(
    async () => {
      text = await target.page.locator('.chat-subtitle').textContent();
      return text === expected;
    },
    () => `${target.name}: the chat subtitle reads "${expected}" (it reads "${String(text)}")`,
  );
}
