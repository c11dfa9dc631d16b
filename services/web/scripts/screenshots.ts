/**
 * Takes the screenshots of the web client shown in the README. At phone width (375 px) they
 * show the log-in, the conversation list with presence dots, a chat with a typing indicator
 * and a group chat. At desktop width they show a group with its member list. It starts an
 * embedded cluster with fresh data on free loopback ports, seeds a few conversations, drives
 * Debian's Chromium, and writes docs/screenshots/*.png.
 *
 *   npx tsx services/web/scripts/screenshots.ts
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SwitchboardClient } from '@switchboard/client';
import type { Page } from 'playwright-core';
import { ensureChromium, launchChromium, waitFor } from '../e2e/browser.ts';
import { DESKTOP, logInInApp, messageRows, PHONE, sendInApp, waitForStatus } from '../e2e/app-driver.ts';
import { startWebCluster } from '../e2e/web-cluster.ts';
import { WEB_PACKAGE_DIR } from '../server/index.ts';

const OUTPUT_DIR = join(WEB_PACKAGE_DIR, '..', '..', 'docs', 'screenshots');

interface Person {
  username: string;
  displayName: string;
  client: SwitchboardClient;
  id: string;
}

async function main(): Promise<void> {
  ensureChromium();
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const web = await startWebCluster();
  const browser = await launchChromium();
  const people: Person[] = [];
  try {
    const person = async (username: string, displayName: string): Promise<Person> => {
      const client = new SwitchboardClient({ apiUrl: web.origin });
      const auth = await client.register(username, `${username}-secret`, displayName);
      await client.connect();
      const created = { username, displayName, client, id: auth.user.id };
      people.push(created);
      return created;
    };
    const alice = await person('alice', 'Alice Martin');
    const bob = await person('bob', 'Bob Okafor');
    const carol = await person('carol', 'Carol Jensen');
    const dan = await person('dan', 'Dan Li');

    await dan.client.send({ to: alice.id }, 'The slides are in the shared folder.');
    await alice.client.send({ to: dan.id }, 'Thanks, I will look tonight.');
    await carol.client.send({ to: alice.id }, 'Are we still on for Friday?');
    await carol.client.send({ to: alice.id }, 'I can book the table.');
    const group = await alice.client.createGroup('Release crew', { members: [bob.id, carol.id] });
    await carol.client.send({ conv: group.conv }, 'Release notes are ready for review.');
    await alice.client.addMembers(group.id, [dan.id]);
    await dan.client.send({ conv: group.conv }, 'Thanks for adding me. I will check the rollout plan.');
    await bob.client.send({ to: alice.id }, 'Hi Alice! Did the deploy go out?');
    await bob.client.send({ to: alice.id }, 'The dashboards look quiet so far.');
    // Alice's page is her own device: close her SDK client so it does not mark messages delivered as a second one.
    await alice.client.close();

    const phone = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 2 });
    const page = await phone.newPage();
    await page.goto(web.origin);
    await page.getByLabel('User name').waitFor();
    await shoot(page, 'login-phone.png');

    await logInInApp(page, alice.username, `${alice.username}-secret`);
    await page.locator('button.conversation', { hasText: 'dashboards' }).waitFor();
    await shoot(page, 'conversations-phone.png');

    await page.locator('button.conversation', { hasText: 'dashboards' }).click();
    const device = {
      name: 'alice',
      context: phone,
      page,
      console: { errors: [], allowedNetworkErrors: [], networkCut: false },
    };
    await waitFor(
      async () => (await messageRows(page, 'The dashboards look quiet so far.').count()) === 1,
      'the chat opens',
    );
    // Bob reads whatever Alice sends, so her ticks turn blue.
    bob.client.on('message', (message) => {
      if (message.from === alice.id) bob.client.markRead(message.conv, message.seq);
    });
    await sendInApp(page, 'Yes, it went out at 14:00. All green.');
    await waitForStatus(device, 'Yes, it went out at 14:00. All green.', 'read');
    await bob.client.send({ to: alice.id }, 'Great, thanks!');
    await waitFor(async () => (await messageRows(page, 'Great, thanks!').count()) === 1, 'the reply arrives');
    await sendInApp(page, 'I will keep an eye on the error rate tonight.');
    await waitForStatus(device, 'I will keep an eye on the error rate tonight.', 'read');
    // Bob starts a reply, so the header shows him online and the typing indicator shows.
    const direct = page.url().split('#/c/')[1]!;
    bob.client.setTyping(decodeURIComponent(direct), true);
    await page.locator('.typing-indicator', { hasText: 'Bob Okafor is typing' }).waitFor();
    await page.locator('.chat-subtitle', { hasText: 'Online' }).waitFor();
    await shoot(page, 'chat-phone.png');

    await page.getByRole('button', { name: 'Back to conversations' }).click();
    await page.locator('button.conversation', { hasText: 'Release crew' }).click();
    await waitFor(
      async () =>
        (await messageRows(page, 'Thanks for adding me. I will check the rollout plan.').count()) === 1,
      'the group chat opens',
    );
    await shoot(page, 'group-phone.png');
    await phone.close();

    const desktop = await browser.newContext({ viewport: DESKTOP });
    const wide = await desktop.newPage();
    await wide.goto(web.origin);
    await logInInApp(wide, alice.username, `${alice.username}-secret`);
    await wide.locator('button.conversation', { hasText: 'Release crew' }).click();
    await waitFor(
      async () => (await messageRows(wide, 'Release notes are ready for review.').count()) === 1,
      'the group opens on desktop',
    );
    await wide.getByRole('button', { name: 'Group info' }).click();
    await wide.getByRole('list', { name: 'Members' }).locator('li').nth(3).waitFor();
    await shoot(wide, 'chat-desktop.png');
    await desktop.close();
  } finally {
    for (const created of people) await created.client.close();
    await browser.close();
    await web.stop();
  }
}

async function shoot(page: Page, name: string): Promise<void> {
  // The focus ring of the field typed into last is left out, and the last render settles.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.waitForTimeout(200);
  await page.screenshot({ path: join(OUTPUT_DIR, name) });
  process.stdout.write(`wrote ${join(OUTPUT_DIR, name)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `screenshots failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
