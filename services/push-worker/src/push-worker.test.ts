import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cassandra from 'cassandra-driver';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createLogger,
  type DurableLog,
  type PushJob,
  type PushRegistry,
  type PushSettings,
  type PushSubscription,
} from '@switchboard/core';
import { waitFor } from '@switchboard/core/testing';
import { connectPushDeadLog, connectPushJobLog, connectStore, readClusterConfig } from '@switchboard/cluster';
import { openPushLogs, openSqlite } from '@switchboard/embedded';
import { SwitchboardMetrics } from '@switchboard/metrics';
import { parseExposition, sumSamples } from '@switchboard/metrics/testing';
import { readProvidersConfig } from './config.ts';
import { collapseKeyOf } from './notification.ts';
import { createConfiguredProviders } from './providers.ts';
import { PushWorker, type PushWorkerSettings } from './push-worker.ts';
import { buildPushJob, startPushFakes, webPushSubscription, type PushFakes } from './testing/index.ts';

const logger = createLogger('test', { level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];
let fakes: PushFakes;

beforeAll(async () => {
  fakes = await startPushFakes();
});
afterAll(async () => {
  await fakes.close();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Settings that keep the tests short: a short collapse interval and fast retries. */
const FAST: Partial<PushWorkerSettings> = {
  collapseIntervalMs: 300,
  backoffBaseMs: 20,
  backoffMaxMs: 2000,
  maxAttempts: 4,
};

/** A push-jobs log that also reports the lag of a consumer group, as both profiles' logs do. */
type JobLog = DurableLog<PushJob> & { lag(group: string): Promise<number> };

/** The logs and the registry of one profile, fresh for one test. */
interface ProfileResources {
  jobs: JobLog;
  dead: DurableLog<PushJob>;
  registry: PushRegistry;
  close(): Promise<void>;
}

/** Opens each test's logs and registry: file logs and SQLite, or Kafka topics and Cassandra. */
interface Profile {
  name: 'embedded' | 'cluster';
  available: boolean;
  open(): Promise<ProfileResources>;
  close(): Promise<void>;
}

const embeddedProfile: Profile = {
  name: 'embedded',
  available: true,
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-push-worker-'));
    const logs = await openPushLogs(dir, logger);
    const sqlite = openSqlite(join(dir, 'switchboard.db'));
    return {
      jobs: logs.jobs,
      dead: logs.dead,
      registry: sqlite.push,
      async close() {
        await logs.close();
        await sqlite.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  async close() {},
};

/** Returns true when a TCP connection to `host:port` opens within a second. */
function acceptsConnection(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolveAnswer) => {
    const socket = connect({ host: host!, port: Number(port), timeout: 1_000 });
    const finish = (answered: boolean) => {
      socket.destroy();
      resolveAnswer(answered);
    };
    socket.once('connect', () => finish(true));
    socket.once('timeout', () => finish(false));
    socket.once('error', () => finish(false));
  });
}

const clusterBase = readClusterConfig({
  ...process.env,
  SWB_KAFKA_PARTITIONS: '1',
  SWB_CASSANDRA_KEYSPACE: `swb_test_push_${randomBytes(4).toString('hex')}`,
});
const clusterAvailable =
  (await acceptsConnection(clusterBase.kafkaBrokers[0]!)) &&
  (await acceptsConnection(clusterBase.cassandraContactPoints[0]!));
if (!clusterAvailable && process.env.SWB_REQUIRE_ENGINES === '1') {
  throw new Error('Kafka or Cassandra did not accept a connection and SWB_REQUIRE_ENGINES=1');
}

/** Kafka topics with a random name per test, and one Cassandra keyspace for the file. */
function buildClusterProfile(): Profile {
  const topics: string[] = [];
  let store: Awaited<ReturnType<typeof connectStore>> | null = null;
  return {
    name: 'cluster',
    available: clusterAvailable,
    async open() {
      const suffix = randomBytes(4).toString('hex');
      const config = {
        ...clusterBase,
        kafkaPushTopic: `swb-test-push-jobs-${suffix}`,
        kafkaPushDeadTopic: `swb-test-push-dead-${suffix}`,
      };
      topics.push(config.kafkaPushTopic, config.kafkaPushDeadTopic);
      store ??= await connectStore(clusterBase, logger);
      const jobs = await connectPushJobLog(config, logger, 'push-worker-test');
      const dead = await connectPushDeadLog(config, logger, 'push-worker-test-dead');
      return {
        jobs,
        dead,
        registry: store.push,
        async close() {
          await jobs.close();
          await dead.close();
        },
      };
    },
    async close() {
      await store?.close();
      const kafka = new Kafka({ brokers: clusterBase.kafkaBrokers, logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.disconnect();
      const client = new cassandra.Client({
        contactPoints: clusterBase.cassandraContactPoints,
        localDataCenter: clusterBase.cassandraDataCenter,
      });
      await client.connect();
      await client.execute(`DROP KEYSPACE IF EXISTS ${clusterBase.cassandraKeyspace}`, [], {
        readTimeout: 60_000,
      });
      await client.shutdown();
    },
  };
}

interface Harness {
  jobs: JobLog;
  dead: DurableLog<PushJob>;
  registry: PushRegistry;
  worker: PushWorker;
  /** The worker's consumer group, unique per test: Kafka keeps groups across topics. */
  group: string;
  /** Random hex that makes device tokens unique per test, since the fakes outlive the tests. */
  tag: string;
  subscribe(subscription: PushSubscription): Promise<PushSubscription>;
  setSettings(user: string, settings: Partial<PushSettings>): Promise<void>;
  /** Waits until the worker committed every job appended so far. */
  drained(): Promise<void>;
  /** Sums a push metric with these labels in a scrape of the worker's registry. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  readDeadLetters(): Promise<PushJob[]>;
}

/** Starts a worker over the logs and registry of `profile`, sending to the fakes. */
async function startWorker(
  profile: Profile,
  settings: Partial<PushWorkerSettings> = FAST,
  env: Record<string, string> = fakes.env,
): Promise<Harness> {
  const resources = await profile.open();
  const { jobs, dead, registry } = resources;
  const tag = randomBytes(8).toString('hex');
  const group = `push-worker-test-${tag}`;
  const metrics = new SwitchboardMetrics({ processMetrics: false });
  const providers = createConfiguredProviders(readProvidersConfig(env), logger);
  const worker = new PushWorker({
    jobs,
    deadLetters: dead,
    registry,
    providers,
    logger,
    metrics,
    group,
    settings,
  });
  await worker.start();
  cleanups.push(async () => {
    await worker.stop();
    await Promise.all(providers.map((provider) => provider.close()));
    await resources.close();
  });
  return {
    jobs,
    dead,
    registry,
    worker,
    group,
    tag,
    async subscribe(subscription) {
      await registry.addSubscription(subscription);
      return subscription;
    },
    async setSettings(user, changes) {
      const current = await registry.getSettings(user);
      await registry.setSettings(user, { ...current, ...changes });
    },
    async drained() {
      expect(await jobs.awaitConsumed(group, 20_000), `group ${group} committed every job`).toBe(true);
    },
    async metric(name, labels = {}) {
      return sumSamples(parseExposition(await metrics.render()), name, labels);
    },
    async readDeadLetters() {
      const seen: PushJob[] = [];
      const reader = `dead-letter-reader-${tag}`;
      const consumer = await dead.consume(reader, async (records) => {
        seen.push(...records);
      });
      await dead.awaitConsumed(reader, 20_000);
      await consumer.stop();
      return seen;
    },
  };
}

function webPayloads(endpoint: string) {
  return fakes.webpush.receivedFor(endpoint).map((message) => message.payload as Record<string, unknown>);
}

function definePushWorkerSuite(profile: Profile): void {
  describe.skipIf(!profile.available)(`push worker, ${profile.name} profile`, { timeout: 120_000 }, () => {
    afterAll(() => profile.close(), 120_000);

    it('delivers a job as a decrypted Web Push payload', async () => {
      const harness = await startWorker(profile);
      const subscription = await harness.subscribe(webPushSubscription(fakes, 'wp-bob'));
      if (subscription.kind !== 'webpush') throw new Error('expected a webpush subscription');

      await harness.jobs.append([buildPushJob('wp-bob', 'd.alice.wp-bob', 7, { body: 'hello bob' })]);
      await waitFor(() => webPayloads(subscription.endpoint).length === 1, 'the Web Push message');

      const [payload] = webPayloads(subscription.endpoint);
      expect(payload).toMatchObject({
        title: 'alice',
        body: 'hello bob',
        conv: 'd.alice.wp-bob',
        seq: 7,
        unread: 1,
        collapseKey: collapseKeyOf('d.alice.wp-bob'),
      });
      const [message] = fakes.webpush.receivedFor(subscription.endpoint);
      expect(message!.topic).toBe(collapseKeyOf('d.alice.wp-bob'));
      expect(message!.vapid.publicKey).toBe(fakes.env.SWB_PUSH_VAPID_PUBLIC_KEY);
      await harness.drained();
      expect(await harness.metric('switchboard_push_sent_total', { provider: 'webpush' })).toBe(1);
    });

    it('delivers a job as an FCM message', async () => {
      const harness = await startWorker(profile);
      const token = `fcm-token-carol-${harness.tag}`;
      await harness.subscribe({ kind: 'fcm', token, id: 'fcm-1', user: 'fcm-carol', createdAt: Date.now() });

      await harness.jobs.append([buildPushJob('fcm-carol', 'd.alice.fcm-carol', 3, { body: 'hi carol' })]);
      await waitFor(
        () => fakes.fcm.received.some((entry) => entry.message.token === token),
        'the FCM message',
      );

      const { message } = fakes.fcm.received.find((entry) => entry.message.token === token)!;
      expect(message.notification).toEqual({ title: 'alice', body: 'hi carol' });
      expect(message.data).toMatchObject({ conv: 'd.alice.fcm-carol', seq: '3', unread: '1' });
      expect(message.android).toMatchObject({ collapse_key: collapseKeyOf('d.alice.fcm-carol') });
      await harness.drained();
      expect(await harness.metric('switchboard_push_sent_total', { provider: 'fcm' })).toBe(1);
    });

    it('delivers a job as an APNs notification', async () => {
      const harness = await startWorker(profile);
      const token = harness.tag.repeat(4);
      await harness.subscribe({
        kind: 'apns',
        token,
        id: 'apns-1',
        user: 'apns-dave',
        createdAt: Date.now(),
      });

      await harness.jobs.append([buildPushJob('apns-dave', 'd.alice.apns-dave', 11, { body: 'hi dave' })]);
      await waitFor(
        () => fakes.apns.received.some((entry) => entry.deviceToken === token),
        'the APNs notification',
      );

      const notification = fakes.apns.received.find((entry) => entry.deviceToken === token)!;
      expect(notification.payload).toMatchObject({
        aps: { alert: { title: 'alice', body: 'hi dave' }, badge: 1 },
        conv: 'd.alice.apns-dave',
        seq: 11,
      });
      expect(notification.headers['apns-collapse-id']).toBe(collapseKeyOf('d.alice.apns-dave'));
      expect(notification.headers['apns-topic']).toBe(fakes.apns.credentials.topic);
      await harness.drained();
      expect(await harness.metric('switchboard_push_sent_total', { provider: 'apns' })).toBe(1);
    });

    it('collapses a burst of 20 jobs into one notification', async () => {
      const harness = await startWorker(profile, { ...FAST, collapseIntervalMs: 2000 });
      const subscription = await harness.subscribe(webPushSubscription(fakes, 'burst-erin'));
      if (subscription.kind !== 'webpush') throw new Error('expected a webpush subscription');

      const conv = 'd.alice.burst-erin';
      await harness.jobs.append(
        Array.from({ length: 20 }, (_, i) => buildPushJob('burst-erin', conv, i + 1)),
      );
      await harness.drained();

      const payloads = webPayloads(subscription.endpoint);
      expect(payloads).toHaveLength(1);
      expect(payloads[0]).toMatchObject({ unread: 20, seq: 20, body: 'message 20' });

      // A burst inside the interval waits for its end. The batch read first goes then, and the
      // jobs appended while it waited go together one interval later: two notifications at most.
      const sentAt = Date.now();
      for (let seq = 21; seq <= 25; seq++) await harness.jobs.append([buildPushJob('burst-erin', conv, seq)]);
      await waitFor(() => webPayloads(subscription.endpoint).length >= 2, 'the second notification');
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1500);
      await harness.drained();
      const later = webPayloads(subscription.endpoint).slice(1);
      expect(later.reduce((sum, payload) => sum + (payload.unread as number), 0)).toBe(5);
      expect(later.length).toBeLessThanOrEqual(2);
    });

    it('drops a job whose id was already handled', async () => {
      const harness = await startWorker(profile);
      const subscription = await harness.subscribe(webPushSubscription(fakes, 'dup-frank'));
      if (subscription.kind !== 'webpush') throw new Error('expected a webpush subscription');

      const job = buildPushJob('dup-frank', 'd.alice.dup-frank', 1);
      await harness.jobs.append([job]);
      await harness.drained();
      await harness.jobs.append([job, job]);
      await harness.drained();

      expect(webPayloads(subscription.endpoint)).toHaveLength(1);
      expect(await harness.metric('switchboard_push_dropped_total', { reason: 'duplicate' })).toBe(2);
    });

    it('retries 429 with Retry-After and 5xx, then sends', async () => {
      const harness = await startWorker(profile);
      const subscription = await harness.subscribe(webPushSubscription(fakes, 'retry-gina'));
      if (subscription.kind !== 'webpush') throw new Error('expected a webpush subscription');

      fakes.webpush.respondNext({ status: 429, retryAfter: 1 });
      fakes.webpush.respondNext({ status: 503 });
      const started = Date.now();
      await harness.jobs.append([buildPushJob('retry-gina', 'd.alice.retry-gina', 1)]);
      await waitFor(() => webPayloads(subscription.endpoint).length === 1, 'the message after two retries');

      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      await harness.drained();
      expect(await harness.metric('switchboard_push_retried_total', { provider: 'webpush' })).toBe(2);
      expect(await harness.metric('switchboard_push_sent_total', { provider: 'webpush' })).toBe(1);
      expect(await harness.metric('switchboard_push_send_seconds_count', { provider: 'webpush' })).toBe(3);
    });

    it('moves a job that keeps failing to the dead-letter log', async () => {
      const harness = await startWorker(profile, { ...FAST, maxAttempts: 3 });
      const token = harness.tag.repeat(4);
      await harness.subscribe({
        kind: 'apns',
        token,
        id: 'apns-h',
        user: 'dead-hank',
        createdAt: Date.now(),
      });

      fakes.apns.respondNext({ status: 503, reason: 'ServiceUnavailable' }, 3);
      const job = buildPushJob('dead-hank', 'd.alice.dead-hank', 4);
      await harness.jobs.append([job]);
      await harness.drained();

      const dead = await harness.readDeadLetters();
      expect(dead).toEqual([{ ...job, attempts: 3 }]);
      expect(fakes.apns.received.some((entry) => entry.deviceToken === token)).toBe(false);
      expect(await harness.metric('switchboard_push_retried_total', { provider: 'apns' })).toBe(2);
      expect(await harness.metric('switchboard_push_dropped_total', { reason: 'dead_letter' })).toBe(1);
      expect(
        await harness.metric('switchboard_push_failed_total', {
          provider: 'apns',
          reason: 'retries_exhausted',
        }),
      ).toBe(1);
    });

    it('removes a subscription the service reports gone', async () => {
      const harness = await startWorker(profile);
      const gone = await harness.subscribe(webPushSubscription(fakes, 'gone-ivy', 'old-browser'));
      const live = await harness.subscribe(webPushSubscription(fakes, 'gone-ivy', 'new-browser'));
      if (gone.kind !== 'webpush' || live.kind !== 'webpush')
        throw new Error('expected webpush subscriptions');
      fakes.webpush.markGone(gone.endpoint);
      const fcmToken = `fcm-token-ivy-${harness.tag}`;
      await harness.subscribe({ kind: 'fcm', token: fcmToken, id: 'phone', user: 'gone-ivy', createdAt: 1 });
      fakes.fcm.markGone(fcmToken);

      await harness.jobs.append([buildPushJob('gone-ivy', 'd.alice.gone-ivy', 1)]);
      await harness.drained();

      expect(webPayloads(live.endpoint)).toHaveLength(1);
      const remaining = await harness.registry.listSubscriptions('gone-ivy');
      expect(remaining.map((subscription) => subscription.id)).toEqual(['new-browser']);

      // With no subscription left, the next job is dropped as gone and then as no_subscription.
      fakes.webpush.markGone(live.endpoint);
      await harness.jobs.append([buildPushJob('gone-ivy', 'd.alice.gone-ivy', 2)]);
      await harness.drained();
      expect(await harness.registry.listSubscriptions('gone-ivy')).toEqual([]);
      expect(await harness.metric('switchboard_push_dropped_total', { reason: 'gone' })).toBe(1);
      await harness.jobs.append([buildPushJob('gone-ivy', 'd.alice.gone-ivy', 3)]);
      await harness.drained();
      expect(await harness.metric('switchboard_push_dropped_total', { reason: 'no_subscription' })).toBe(1);
    });

    it('respects mute, muted conversations and previews off', async () => {
      const harness = await startWorker(profile, { ...FAST, collapseIntervalMs: 0 });
      const subscription = await harness.subscribe(webPushSubscription(fakes, 'quiet-judy'));
      if (subscription.kind !== 'webpush') throw new Error('expected a webpush subscription');

      await harness.setSettings('quiet-judy', { muted: true });
      await harness.jobs.append([buildPushJob('quiet-judy', 'd.alice.quiet-judy', 1)]);
      await harness.drained();
      await harness.setSettings('quiet-judy', { muted: false, mutedConversations: ['g.noisy'] });
      await harness.jobs.append([buildPushJob('quiet-judy', 'g.noisy', 1)]);
      await harness.drained();
      expect(webPayloads(subscription.endpoint)).toHaveLength(0);
      expect(await harness.metric('switchboard_push_dropped_total', { reason: 'muted' })).toBe(2);

      await harness.setSettings('quiet-judy', { previews: false });
      await harness.jobs.append([
        buildPushJob('quiet-judy', 'd.alice.quiet-judy', 2, { body: 'the secret plan' }),
        buildPushJob('quiet-judy', 'd.alice.quiet-judy', 3, { body: 'more of it' }),
      ]);
      await waitFor(
        () => webPayloads(subscription.endpoint).length === 1,
        'the notification without preview',
      );
      const [payload] = fakes.webpush.receivedFor(subscription.endpoint);
      expect(payload!.plaintext).not.toContain('secret');
      expect(payload!.plaintext).not.toContain('more of it');
      expect(payload!.plaintext).not.toContain('alice"');
      expect(payload!.payload).toMatchObject({
        title: 'New message',
        body: 'You have 2 new messages',
        unread: 2,
      });
    });

    it('counts jobs as dropped when no provider is configured', async () => {
      const harness = await startWorker(profile, FAST, {});
      await harness.subscribe(webPushSubscription(fakes, 'none-kim'));
      await harness.jobs.append([buildPushJob('none-kim', 'd.alice.none-kim', 1)]);
      await harness.drained();
      expect(await harness.metric('switchboard_push_dropped_total', { reason: 'no_provider' })).toBe(1);
    });

    it('leaves the batch uncommitted when stopped during a retry wait', async () => {
      const harness = await startWorker(profile, { ...FAST, backoffBaseMs: 60_000, backoffMaxMs: 60_000 });
      const subscription = await harness.subscribe(webPushSubscription(fakes, 'stop-leo'));
      if (subscription.kind !== 'webpush') throw new Error('expected a webpush subscription');
      fakes.webpush.respondNext({ status: 503, retryAfter: 60 });

      await harness.jobs.append([buildPushJob('stop-leo', 'd.alice.stop-leo', 1)]);
      await waitFor(
        async () => (await harness.metric('switchboard_push_retried_total', { provider: 'webpush' })) === 1,
        'the first retry',
      );
      const stopped = Date.now();
      await harness.worker.stop();
      expect(Date.now() - stopped).toBeLessThan(5000);
      expect(await harness.jobs.lag(harness.group)).toBe(1);

      await harness.worker.start();
      await waitFor(() => webPayloads(subscription.endpoint).length === 1, 'the message after the restart');
    });
  });
}

definePushWorkerSuite(embeddedProfile);
definePushWorkerSuite(buildClusterProfile());
