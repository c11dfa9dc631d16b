import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStateStore, SwitchboardClient } from '@switchboard/client';
import { createLogger } from '@switchboard/core';
import { parseExposition, sumSamples } from '@switchboard/metrics/testing';
import { buildDirectConversationId } from '@switchboard/protocol';
import { readProvidersConfig } from '@switchboard/push-worker';
import { startPushFakes, webPushSubscription, type PushFakes } from '@switchboard/push-worker/testing';
import { startEmbeddedCluster, type EmbeddedCluster } from './embedded-cluster.ts';
import { registerUser, TEST_TOKEN_SECRET, waitFor, type TestUser } from './testing/cluster.ts';

/**
 * From a chat message to a notification on a device, in one embedded cluster: the chat node
 * appends a push job for the offline recipient and the push worker in the same process sends
 * it to the loopback Web Push service.
 */
let fakes: PushFakes;
let cluster: EmbeddedCluster;
let dataDir: string;
const clients: SwitchboardClient[] = [];

beforeAll(async () => {
  fakes = await startPushFakes();
  dataDir = mkdtempSync(join(tmpdir(), 'switchboard-push-delivery-'));
  cluster = await startEmbeddedCluster({
    dataDir,
    host: '127.0.0.1',
    httpPort: 0,
    chatNodes: 1,
    chatPortBase: 0,
    tokenSecret: TEST_TOKEN_SECRET,
    logger: createLogger('test', { level: 'silent' }),
    pushWorker: { providers: readProvidersConfig(fakes.env), settings: { collapseIntervalMs: 1000 } },
    lagIntervalMs: 100,
  });
}, 60_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await cluster?.stop();
  await fakes?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

async function connect(user: TestUser): Promise<SwitchboardClient> {
  const client = new SwitchboardClient({
    apiUrl: cluster.apiUrl,
    routerUrl: cluster.apiUrl,
    state: new MemoryStateStore(),
    reconnect: { baseMs: 50, maxMs: 500 },
  });
  client.useSession({ accessToken: user.accessToken, refreshToken: user.refreshToken });
  await client.connect();
  clients.push(client);
  return client;
}

describe('push delivery, embedded profile', () => {
  it('notifies an offline recipient of a burst', async () => {
    const alice = await registerUser(cluster.apiUrl, 'push-alice');
    const bob = await registerUser(cluster.apiUrl, 'push-bob');
    const subscription = webPushSubscription(fakes, bob.id);
    if (subscription.kind !== 'webpush') throw new Error('expected a webpush subscription');
    await cluster.pushRegistry.addSubscription(subscription);

    const sender = await connect(alice);
    await sender.send({ to: bob.id }, 'first');
    await sender.send({ to: bob.id }, 'second');
    const last = await sender.send({ to: bob.id }, 'third');

    const conv = buildDirectConversationId(alice.id, bob.id);
    const payloads = () =>
      fakes.webpush
        .receivedFor(subscription.endpoint)
        .map((message) => message.payload as Record<string, unknown>);
    await waitFor(
      () => payloads().some((payload) => payload.seq === last.seq),
      'the notification of the last message',
      15_000,
    );
    for (const payload of payloads()) {
      expect(payload.conv).toBe(conv);
      expect(payload.title).toMatch(/^push-alice( \(\d+ new messages\))?$/);
    }
    // One burst is one or two notifications (the worker may read the first job alone), and
    // their badges add up to the three messages.
    expect(payloads().length).toBeLessThanOrEqual(2);
    expect(payloads().reduce((sum, payload) => sum + (payload.unread as number), 0)).toBe(3);
    expect(payloads().at(-1)).toMatchObject({ body: 'third', seq: last.seq });

    const notifications = payloads().length;
    const scrape = async () => parseExposition(await (await fetch(`${cluster.apiUrl}/metrics`)).text());
    // The counter moves when the push service's response arrives, just after the fake saw the request.
    await waitFor(
      async () =>
        sumSamples(await scrape(), 'switchboard_push_sent_total', { provider: 'webpush' }) === notifications,
      'switchboard_push_sent_total to count every notification',
    );
    await waitFor(
      async () => sumSamples(await scrape(), 'switchboard_push_lag_records') === 0,
      'the push lag gauge at 0',
    );
  });
});
