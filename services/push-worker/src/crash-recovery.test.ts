import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import cassandra from 'cassandra-driver';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type PushJob, type PushRegistry, type PushSubscription } from '@switchboard/core';
import { waitFor } from '@switchboard/core/testing';
import { connectPushJobLog, connectStore, readClusterConfig } from '@switchboard/cluster';
import { openPushLogs, openSqlite } from '@switchboard/embedded';
import { buildPushJob, startPushFakes, webPushSubscription, type PushFakes } from './testing/index.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const logger = createLogger('test', { level: 'silent' });
const USERS = 30;
/** Requests that get 503 with a long Retry-After, so that the batch is still open when the worker is killed. */
const HELD = 5;

let fakes: PushFakes;
beforeAll(async () => {
  fakes = await startPushFakes();
});
afterAll(async () => {
  await fakes.close();
});

/** A push worker child process, ready once it logged `service ready`. */
class WorkerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  output = '';

  private constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((resolveExit) => child.once('exit', () => resolveExit()));
  }

  static async start(entry: string, env: Record<string, string>): Promise<WorkerProcess> {
    const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SWB_')));
    const child = spawn(process.execPath, ['--import', 'tsx', entry], {
      cwd: ROOT,
      env: { ...base, ...fakes.env, SWB_LOG_FORMAT: 'json', SWB_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const worker = new WorkerProcess(child);
    const collect = (chunk: Buffer) => (worker.output += chunk.toString());
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    await waitFor(
      () => {
        if (child.exitCode !== null)
          throw new Error(`worker exited with ${child.exitCode}:\n${worker.output}`);
        return worker.output.includes('"msg":"service ready"');
      },
      'the worker process to be ready',
      120_000,
    );
    return worker;
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

interface ProfileFixture {
  /** Entry point of the worker process and its variables. */
  entry: string;
  env: Record<string, string>;
  registry: PushRegistry;
  append(jobs: PushJob[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Kills a worker with SIGKILL while its batch waits on held sends, restarts it, and checks
 * that every job was delivered, the replayed batch once more per device and its duplicate
 * jobs not at all.
 */
async function killAndRestart(fixture: ProfileFixture): Promise<void> {
  const run = randomBytes(3).toString('hex');
  const subscriptions: Array<Extract<PushSubscription, { kind: 'webpush' }>> = [];
  for (let i = 0; i < USERS; i++) {
    const subscription = webPushSubscription(fakes, `crash-${run}-${i}`);
    if (subscription.kind !== 'webpush') throw new Error('expected a webpush subscription');
    await fixture.registry.addSubscription(subscription);
    subscriptions.push(subscription);
  }
  const jobs = subscriptions.map((subscription) =>
    buildPushJob(subscription.user, `d.alice.${subscription.user}`, 1),
  );
  // Five jobs twice in the same batch: the worker sends each of them once.
  await fixture.append([...jobs, ...jobs.slice(0, 5)]);
  const received = () =>
    subscriptions.map((subscription) => fakes.webpush.receivedFor(subscription.endpoint).length);

  fakes.webpush.respondNext({ status: 503, retryAfter: 60 }, HELD);
  const requestsBefore = fakes.webpush.requestCount;
  const first = await WorkerProcess.start(fixture.entry, fixture.env);
  await waitFor(
    () => fakes.webpush.requestCount - requestsBefore >= USERS,
    'a send for every job of the batch',
    60_000,
  );
  await waitFor(() => received().filter((count) => count > 0).length === USERS - HELD, 'the sends not held');
  await first.kill('SIGKILL');
  const beforeRestart = received();
  expect(beforeRestart.filter((count) => count === 0)).toHaveLength(HELD);

  const second = await WorkerProcess.start(fixture.entry, fixture.env);
  try {
    await waitFor(
      () => received().every((count) => count > 0),
      'every job delivered after the restart',
      // A Kafka group hands the partition over only after the killed member's session expires.
      120_000,
    );
    // The batch was never committed, so the restarted worker replays it whole: one more
    // notification per device, and none for the duplicate jobs inside it.
    await waitFor(
      () => received().every((count, index) => count === beforeRestart[index]! + 1),
      'one notification per device from the replay',
      30_000,
    );
  } finally {
    await second.kill('SIGTERM');
  }
  expect(received().every((count, index) => count === beforeRestart[index]! + 1)).toBe(true);
  expect(second.output).not.toContain('"level":50');
}

describe('push worker killed mid-batch, embedded profile', () => {
  let dataDir = '';

  afterAll(() => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('delivers every job after a restart', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'switchboard-push-crash-'));
    const sqlite = openSqlite(join(dataDir, 'switchboard.db'));
    try {
      await killAndRestart({
        entry: 'services/push-worker/src/testing/embedded-worker-main.ts',
        env: { SWB_DATA_DIR: dataDir, SWB_PUSH_COLLAPSE_INTERVAL_MS: '0' },
        registry: sqlite.push,
        async append(jobs) {
          // One FileLog per directory at a time: this one closes before the worker opens it.
          const logs = await openPushLogs(dataDir, logger);
          await logs.jobs.append(jobs);
          await logs.close();
        },
        async close() {},
      });
    } finally {
      await sqlite.close();
    }
    const logs = await openPushLogs(dataDir, logger);
    expect(await logs.jobs.lag('push-worker')).toBe(0);
    await logs.close();
  }, 240_000);
});

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

const clusterEnv = {
  SWB_KAFKA_PUSH_TOPIC: `swb-test-push-jobs-${randomBytes(4).toString('hex')}`,
  SWB_KAFKA_PUSH_DEAD_TOPIC: `swb-test-push-dead-${randomBytes(4).toString('hex')}`,
  SWB_KAFKA_PARTITIONS: '1',
  SWB_PUSH_GROUP: `swb-test-push-worker-${randomBytes(4).toString('hex')}`,
  SWB_CASSANDRA_KEYSPACE: `swb_test_push_${randomBytes(4).toString('hex')}`,
  SWB_METRICS_PORT: '0',
  SWB_PUSH_COLLAPSE_INTERVAL_MS: '0',
};
const clusterConfig = readClusterConfig({ ...process.env, ...clusterEnv });
const enginesUp =
  (await acceptsConnection(clusterConfig.kafkaBrokers[0]!)) &&
  (await acceptsConnection(clusterConfig.cassandraContactPoints[0]!));
if (!enginesUp && process.env.SWB_REQUIRE_ENGINES === '1') {
  throw new Error('Kafka or Cassandra did not accept a connection and SWB_REQUIRE_ENGINES=1');
}

describe.skipIf(!enginesUp)('push worker killed mid-batch, cluster profile', () => {
  afterAll(async () => {
    const kafka = new Kafka({ brokers: clusterConfig.kafkaBrokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin
      .deleteTopics({ topics: [clusterEnv.SWB_KAFKA_PUSH_TOPIC, clusterEnv.SWB_KAFKA_PUSH_DEAD_TOPIC] })
      .catch(() => undefined);
    await admin.deleteGroups([clusterEnv.SWB_PUSH_GROUP]).catch(() => undefined);
    await admin.disconnect();
    const client = new cassandra.Client({
      contactPoints: clusterConfig.cassandraContactPoints,
      localDataCenter: clusterConfig.cassandraDataCenter,
    });
    await client.connect();
    await client.execute(`DROP KEYSPACE IF EXISTS ${clusterEnv.SWB_CASSANDRA_KEYSPACE}`, [], {
      readTimeout: 60_000,
    });
    await client.shutdown();
  }, 120_000);

  it('delivers every job after a restart', async () => {
    const store = await connectStore(clusterConfig, logger);
    const jobs = await connectPushJobLog(clusterConfig, logger, 'push-worker-test');
    try {
      await killAndRestart({
        entry: 'services/push-worker/src/main.ts',
        env: clusterEnv,
        registry: store.push,
        append: (batch) => jobs.append(batch),
        async close() {},
      });
      expect(await jobs.awaitConsumed(clusterEnv.SWB_PUSH_GROUP, 30_000)).toBe(true);
    } finally {
      await jobs.close();
      await store.close();
    }
  }, 300_000);
});
