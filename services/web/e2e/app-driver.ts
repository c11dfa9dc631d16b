import type {
  Browser,
  BrowserContext,
  BrowserContextOptions,
  Locator,
  Page,
  WebSocketRoute,
} from 'playwright-core';
import { waitFor, watchConsole, type ConsoleWatch } from './browser.ts';

/** Viewport of a small phone, the narrowest layout the app supports. */
export const PHONE = { width: 375, height: 740 } as const;
export const DESKTOP = { width: 1280, height: 800 } as const;

/** One browser context (one device) with its page and the console errors it logged. */
export interface Device {
  name: string;
  context: BrowserContext;
  page: Page;
  console: ConsoleWatch;
}

/** Opens the app at `origin` in a new browser context. */
export async function openDevice(
  browser: Browser,
  origin: string,
  name: string,
  options: BrowserContextOptions = {},
): Promise<Device> {
  const context = await browser.newContext({ viewport: DESKTOP, ...options });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const console = watchConsole(page, name);
  await page.goto(origin);
  return { name, context, page, console };
}

export async function registerInApp(page: Page, username: string, password: string): Promise<void> {
  await page.getByRole('button', { name: 'Create account', pressed: false }).click();
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.locator('form button[type=submit]').click();
  await page.getByRole('button', { name: 'Log out' }).waitFor({ timeout: 10_000 });
}

export async function logInInApp(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.locator('form button[type=submit]').click();
  await page.getByRole('button', { name: 'Log out' }).waitFor({ timeout: 10_000 });
}

/** Finds a user with the search field and opens the chat with them. */
export async function startChatWith(page: Page, username: string): Promise<void> {
  await page.getByRole('searchbox', { name: 'Find people by user name' }).fill(username);
  await page
    .getByRole('list', { name: 'People found' })
    .getByRole('button', { name: `@${username}` })
    .click();
  await page.locator('h2#chat-title').waitFor({ timeout: 10_000 });
}

/** Types a message into the open chat and presses Enter. */
export async function sendInApp(page: Page, body: string): Promise<void> {
  const field = page.getByRole('textbox', { name: /^Message to / });
  await field.fill(body);
  await field.press('Enter');
}

/** Returns the rows of the open chat whose body is exactly `body`. */
export function messageRows(page: Page, body: string): Locator {
  return page
    .locator('li.message')
    .filter({ has: page.locator('p.body', { hasText: new RegExp(`^${escape(body)}$`) }) });
}

/** Returns the bodies of the open chat's messages in screen order. */
export function shownBodies(page: Page): Promise<string[]> {
  return page.locator('li.message p.body').allTextContents();
}

/** Waits until exactly one row shows `body`. */
export async function waitForMessage(device: Device, body: string, timeoutMs = 10_000): Promise<void> {
  let count = 0;
  await waitFor(
    async () => {
      count = await messageRows(device.page, body).count();
      return count === 1;
    },
    () => `${device.name} shows "${body}" once (it shows it ${count} times)`,
    timeoutMs,
  );
}

/**
 * Waits until the ticks of the own message `body` show `status`, or one of `status` when it
 * is a list, because a status may be replaced by the next one between two polls.
 */
export async function waitForStatus(
  device: Device,
  body: string,
  status: string | readonly string[],
  timeoutMs = 10_000,
): Promise<void> {
  const ticks = messageRows(device.page, body).locator('.ticks');
  const accepted: readonly string[] = typeof status === 'string' ? [status] : status;
  let last: string | null = null;
  await waitFor(
    async () => {
      last = (await ticks.count()) === 1 ? await ticks.getAttribute('data-status') : null;
      return last !== null && accepted.includes(last);
    },
    () =>
      `${device.name}: the ticks of "${body}" reach "${accepted.join('" or "')}" (last seen: ${String(last)})`,
    timeoutMs,
  );
}

/** Reads the access token that the app keeps in localStorage. */
export async function accessTokenOf(page: Page): Promise<string> {
  const token = await page.evaluate(() => {
    const text = localStorage.getItem('switchboard.session');
    return text === null ? null : ((JSON.parse(text) as { accessToken?: string }).accessToken ?? null);
  });
  if (typeof token !== 'string') throw new Error('the app saved no session in localStorage');
  return token;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A context's WebSockets to the chat nodes, passed through Playwright so that a test can
 * cut them as a dropped network would, or lose chosen frames in transit.
 */
export class SocketControl {
  readonly #open: Array<{ page: WebSocketRoute; server: WebSocketRoute }> = [];
  #cut = false;
  /** Frames from the page for which this returns true are dropped instead of forwarded. */
  dropFromPage: (text: string) => boolean = () => false;

  static async attach(context: BrowserContext): Promise<SocketControl> {
    const control = new SocketControl();
    await context.routeWebSocket(
      (url) => url.pathname === '/ws',
      (socket) => control.#accept(socket),
    );
    return control;
  }

  /** Closes every open socket and closes new ones at once, until restore(). */
  async cut(): Promise<void> {
    this.#cut = true;
    for (const socket of this.#open.splice(0)) {
      await socket.page.close({ code: 1001, reason: 'network cut by the test' });
      await socket.server.close();
    }
  }

  restore(): void {
    this.#cut = false;
  }

  #accept(socket: WebSocketRoute): void {
    if (this.#cut) {
      void socket.close({ code: 1001, reason: 'network cut by the test' });
      return;
    }
    const server = socket.connectToServer();
    socket.onMessage((message) => {
      const text = typeof message === 'string' ? message : message.toString('utf8');
      if (!this.dropFromPage(text)) server.send(message);
    });
    this.#open.push({ page: socket, server });
  }
}

/** Returns the typing indicator of the open chat. */
export function typingIndicator(page: Page): Locator {
  return page.locator('.chat .typing-indicator');
}

/** Returns the presence dot of a conversation row in the list. */
export function rowPresenceDot(page: Page, conv: string): Locator {
  return page.locator(`button.conversation[data-conv="${conv}"] .presence-dot`);
}

/** Returns the bodies and system texts of the open chat in screen order, system texts as `[text]`. */
export function shownTimeline(page: Page): Promise<string[]> {
  return page
    .locator('ol.messages > li.message p.body, ol.messages > li.system-message p')
    .evaluateAll((elements) =>
      elements.map((element) =>
        element.closest('li')?.classList.contains('system-message') === true
          ? `[${element.textContent ?? ''}]`
          : (element.textContent ?? ''),
      ),
    );
}

/** Picks users in a member picker by typing each user name and clicking its match. */
export async function pickMembers(
  scope: Locator,
  label: string,
  usernames: readonly string[],
): Promise<void> {
  const field = scope.getByLabel(label, { exact: true });
  for (const username of usernames) {
    await field.fill(username);
    await scope
      .getByRole('list', { name: `Matches for ${username}` })
      .getByRole('button', { name: `@${username}` })
      .click();
  }
  await field.fill('');
}

/** Creates a group from the sidebar with the given members and waits until it opens. */
export async function createGroupInApp(
  page: Page,
  name: string,
  usernames: readonly string[],
): Promise<void> {
  await page.getByRole('button', { name: 'New group' }).click();
  const form = page.getByRole('form', { name: 'New group' });
  await form.getByLabel('Group name', { exact: true }).fill(name);
  await pickMembers(form, 'Add people by user name', usernames);
  await form.getByRole('button', { name: 'Create group' }).click();
  await page.getByRole('heading', { level: 2, name }).waitFor({ timeout: 10_000 });
}
