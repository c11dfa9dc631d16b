import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { WEB_PACKAGE_DIR } from '../server/index.ts';

/** Debian's chromium; Playwright's own browser downloads are not used. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

const INSTALL_SCRIPT = join(WEB_PACKAGE_DIR, '..', '..', 'scripts', 'install-chromium.sh');

/**
 * Chromium flags: headless without a GPU or sandbox (root in a container), and without the
 * background requests (updates, sync, field trials) that a closed network would refuse.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Installs Debian's chromium when it is missing (scripts/install-chromium.sh, idempotent)
 * and throws an error with the install command when that fails.
 */
export function ensureChromium(): void {
  try {
    execFileSync('bash', [INSTALL_SCRIPT], { stdio: 'pipe', timeout: 600_000 });
  } catch (err) {
    const output = err instanceof Error && 'stderr' in err ? String((err as { stderr: unknown }).stderr) : '';
    throw new Error(
      `the browser tests need Chromium at ${CHROMIUM_PATH}, and ${INSTALL_SCRIPT} could not install it. ` +
        `Run it as root (it runs apt-get install -y chromium) and try again.\n${output.trim()}`,
      { cause: err },
    );
  }
}

/**
 * Launches headless Chromium. Playwright gives every launch a new temporary profile
 * (--user-data-dir), so no state leaks from one run to the next.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/**
 * Chromium flag that makes every host name except the loopback addresses fail to resolve, so
 * a browser profile that would reach out (a push service registration, for one) stays on
 * 127.0.0.1.
 */
const LOOPBACK_ONLY = '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost';

/**
 * Launches headless Chromium with an ordinary profile in `userDataDir`, for the features that
 * Chromium turns off in the temporary profiles of `browser.newContext()`: it has no Push API
 * there and logs an error when a page calls it. Host names other than loopback do not resolve.
 */
export function launchPersistentChromium(
  userDataDir: string,
  options: { viewport: { width: number; height: number } },
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, LOOPBACK_ONLY],
    timeout: 60_000,
    viewport: options.viewport,
  });
}

/** What a page logged as an error, with the page's name, in the order it happened. */
export interface ConsoleWatch {
  errors: string[];
  /** Network failures that were allowed while the network was cut on purpose. */
  allowedNetworkErrors: string[];
  /** While true, errors that only report a failed request or socket are allowed. */
  networkCut: boolean;
}

/** Messages Chromium logs by itself when a request or a WebSocket fails for lack of network. */
const NETWORK_FAILURE = /net::ERR_|WebSocket connection to .* failed|Failed to fetch/;

/** Records console errors and uncaught page errors; the tests fail when any were recorded. */
export function watchConsole(page: Page, name: string, watch?: ConsoleWatch): ConsoleWatch {
  const target = watch ?? { errors: [], allowedNetworkErrors: [], networkCut: false };
  page.on('console', (message: ConsoleMessage) => {
    if (message.type() !== 'error') return;
    const text = `${name}: console error: ${message.text()}`;
    if (target.networkCut && NETWORK_FAILURE.test(message.text())) target.allowedNetworkErrors.push(text);
    else target.errors.push(text);
  });
  page.on('pageerror', (error) => target.errors.push(`${name}: page error: ${error.stack ?? error.message}`));
  return target;
}

/**
 * Polls `check` until it returns true, or fails with `message` after `timeoutMs`. A function
 * as `message` is called at the timeout, so it can report the last value seen.
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  message: string | (() => string),
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      const text = typeof message === 'string' ? message : message();
      throw new Error(`timed out after ${timeoutMs} ms: ${text}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
