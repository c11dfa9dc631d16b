import { createServer } from 'node:net';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type LogConsumer, type LogRecord } from '@switchboard/core';
import { buildMessage, runLogContract, uniqueId, waitFor } from '@switchboard/core/testing';
import { KafkaLog } from './kafka-log.ts';
import type { KafkaLogOptions } from './kafka-log-options.ts';

const logger = createLogger('kafka-log-test', { level: 'silent' });
const brokers = (process.env.SWB_KAFKA_BROKERS ?? '127.0.0.1:9092')
  .split(',')
  .map((broker) => broker.trim())
  .filter((broker) => broker !== '');

async function brokerAnswers(): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'kafka-log-test-probe',
    brokers,
    connectionTimeout: 1_000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

const available = await brokerAnswers();
// CI starts the engines and sets SWB_REQUIRE_ENGINES, so a missing broker fails there.
if (!available && process.env.SWB_REQUIRE_ENGINES === '1') {
  throw new Error(`no Kafka broker answered at ${brokers.join(',')} and SWB_REQUIRE_ENGINES=1`);
}
if (!available) {
  console.warn(
    `skipping KafkaLog tests: no Kafka broker answered at ${brokers.join(',')}; ` +
      'start one with deploy/local/kafka.sh up or set SWB_KAFKA_BROKERS',
  );
}

/** Every topic a test run creates has this prefix and a random suffix, and is deleted after. */
const TOPIC_PREFIX = uniqueId('swb-test-log');
const createdTopics = new Set<string>();

function newTopic(): string {
  const topic = uniqueId(TOPIC_PREFIX);
  createdTopics.add(topic);
  return topic;
}

async function connectLog(topic: string, options: Partial<KafkaLogOptions> = {}): Promise<KafkaLog> {
  return KafkaLog.connect({
    brokers,
    clientId: 'kafka-log-test',
    topic,
    logger,
    retryInitialMs: 20,
    retryMaxMs: 200,
    pollIntervalMs: 20,
    maxWaitTimeMs: 200,
    ...options,
  });
}

describe.skipIf(!available)('KafkaLog against a broker', () => {
  let admin: Admin;

  beforeAll(async () => {
    admin = new Kafka({ clientId: 'kafka-log-test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
  });

  afterAll(async () => {
    const existing = new Set(await admin.listTopics());
    const topics = [...createdTopics].filter((topic) => existing.has(topic));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
    await admin.disconnect();
  });

  runLogContract('KafkaLog', async () => {
    const topic = newTopic();
    let log = await connectLog(topic, { partitions: 3 });
    return {
      log,
      async reopen() {
        await log.close();
        log = await connectLog(topic, { partitions: 3 });
        return log;
      },
      async close() {
        await log.close();
        await admin.deleteTopics({ topics: [topic], timeout: 10_000 });
        createdTopics.delete(topic);
      },
    };
  });

  describe('KafkaLog', () => {
    let topic: string;
    let log: KafkaLog;
    const consumers: LogConsumer[] = [];

    /** Starts a consumer that records every record whose handler call resolved. */
    const collect = async (group: string): Promise<LogRecord[]> => {
      const records: LogRecord[] = [];
      const consumer = await log.consume(group, async (batch) => {
        records.push(...batch);
      });
      consumers.push(consumer);
      return records;
    };

    const stopAll = async (): Promise<void> => {
      for (const consumer of consumers.splice(0)) await consumer.stop();
    };

    const keyOf = (record: LogRecord): string => `${record.conv}#${record.seq}`;

    beforeEach(async () => {
      topic = newTopic();
      log = await connectLog(topic);
    });

    afterEach(async () => {
      await stopAll();
      await log.close();
    });

    it('keeps each conversation in order across partitions', async () => {
      const conversations = Array.from({ length: 24 }, (_, index) => `g.order-${index}`);
      // Each conversation appends one record at a time, while all conversations run at once.
      await Promise.all(
        conversations.map(async (conv) => {
          for (let seq = 1; seq <= 10; seq += 1) await log.append([buildMessage(conv, seq, 'alice')]);
        }),
      );

      const records = await collect(uniqueId('group'));
      await waitFor(() => records.length >= 240, '240 records to be consumed', 15_000);

      for (const conv of conversations) {
        const seqs = records.filter((record) => record.conv === conv).map((record) => record.seq);
        expect(seqs, conv).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      }
      const partitionsOf = await readPartitionsByConversation(topic, 240);
      const used = new Set([...partitionsOf.values()].flatMap((partitions) => [...partitions]));
      expect(used.size).toBeGreaterThan(1);
      for (const [conv, partitions] of partitionsOf) expect(partitions.size, conv).toBe(1);
    });

    it('resumes after the last committed batch on restart', async () => {
      const group = uniqueId('group');
      log = await reconnect(log, topic, { maxBatchRecords: 5 });
      const all: LogRecord[] = [];
      for (let seq = 1; seq <= 12; seq += 1) {
        for (const conv of ['g.resume-a', 'g.resume-b', 'g.resume-c', 'g.resume-d', 'g.resume-e']) {
          all.push(buildMessage(conv, seq, 'alice'));
        }
      }
      await log.append(all);

      const first: LogRecord[] = [];
      const firstConsumer = await log.consume(group, async (batch) => {
        first.push(...batch);
      });
      await waitFor(() => first.length >= 15, 'the first consumer to accept 15 records', 10_000);
      await firstConsumer.stop();

      const second = await collect(group);
      await waitFor(() => first.length + second.length >= all.length, 'the rest to be consumed', 10_000);
      expect(await log.awaitConsumed(group, 5_000)).toBe(true);

      const firstKeys = new Set(first.map(keyOf));
      const redelivered = second.filter((record) => firstKeys.has(keyOf(record)));
      expect(first.length).toBeLessThan(all.length);
      expect(redelivered).toEqual([]);
      expect([...first, ...second].map(keyOf).sort()).toEqual(all.map(keyOf).sort());
    });

    it('reports a stopped group behind until it catches up', async () => {
      const group = uniqueId('group');
      await log.append([buildMessage('g.catch-up', 1, 'alice')]);
      const records = await collect(group);
      expect(await log.awaitConsumed(group, 10_000)).toBe(true);
      await stopAll();

      await log.append([buildMessage('g.catch-up', 2, 'alice'), buildMessage('g.other', 1, 'bob')]);

      expect(await log.awaitConsumed(group, 300)).toBe(false);
      const resumed = await collect(group);
      expect(await log.awaitConsumed(group, 10_000)).toBe(true);
      expect(records.map(keyOf)).toEqual(['g.catch-up#1']);
      expect(resumed.map(keyOf).sort()).toEqual(['g.catch-up#2', 'g.other#1']);
    });

    it('counts uncommitted records as lag', async () => {
      const group = uniqueId('group');
      await log.append(Array.from({ length: 7 }, (_, index) => buildMessage(`g.lag-${index}`, 1, 'alice')));
      expect(await log.lag(group)).toBe(7);

      const records = await collect(group);
      await waitFor(() => records.length === 7, 'seven records to be consumed', 10_000);
      expect(await log.awaitConsumed(group, 5_000)).toBe(true);
      expect(await log.lag(group)).toBe(0);
      await stopAll();

      await log.append([buildMessage('g.lag-0', 2, 'alice'), buildMessage('g.lag-1', 2, 'alice')]);
      await log.append([buildMessage('g.lag-2', 2, 'alice')]);
      expect(await log.lag(group)).toBe(3);
    });

    it('batches concurrent appends into few sends', async () => {
      const sentBefore = log.batchesSent;
      await Promise.all(
        Array.from({ length: 200 }, (_, index) =>
          log.append([buildMessage('g.batched', index + 1, 'alice')]),
        ),
      );

      const records = await collect(uniqueId('group'));
      await waitFor(() => records.length === 200, '200 records to be consumed', 10_000);
      expect(log.batchesSent - sentBefore).toBeLessThan(20);
      expect(records.map((record) => record.seq)).toEqual(
        Array.from({ length: 200 }, (_, index) => index + 1),
      );
    });

    it('sends each append alone with maxAppendsPerSend 1', async () => {
      log = await reconnect(log, topic, { maxAppendsPerSend: 1 });
      await Promise.all(
        Array.from({ length: 20 }, (_, index) => log.append([buildMessage('g.single', index + 1, 'alice')])),
      );

      expect(log.batchesSent).toBe(20);
    });

    it('shares polls among concurrent waiters', async () => {
      const group = uniqueId('group');
      await log.append([buildMessage('g.shared', 1, 'alice')]);
      const records = await collect(group);
      await waitFor(() => records.length === 1, 'the record to be consumed', 10_000);
      const fetchesBefore = log.committedOffsetFetches;
      const samplesBefore = log.endOffsetSamples;

      const results = await Promise.all(Array.from({ length: 100 }, () => log.awaitConsumed(group, 5_000)));

      expect(results.every((result) => result)).toBe(true);
      expect(log.committedOffsetFetches - fetchesBefore).toBeLessThanOrEqual(5);
      expect(log.endOffsetSamples - samplesBefore).toBeLessThanOrEqual(2);
    });

    it('keeps a slow handler in its group', async () => {
      // 6 s is the broker's default group.min.session.timeout.ms.
      log = await reconnect(log, topic, { sessionTimeoutMs: 6_000 });
      const group = uniqueId('group');
      await log.append([buildMessage('g.slow', 1, 'alice')]);
      let attempts = 0;
      const consumer = await log.consume(group, async () => {
        attempts += 1;
        if (attempts === 1) await new Promise((resolve) => setTimeout(resolve, 8_000));
      });
      consumers.push(consumer);

      expect(await log.awaitConsumed(group, 15_000)).toBe(true);
      expect(attempts).toBe(1);
    }, 30_000);

    it('rejects an oversized record and keeps appending', async () => {
      // The broker's default message.max.bytes is about 1 MiB.
      const oversized = buildMessage('g.large', 1, 'alice', [], { body: 'x'.repeat(2 * 1024 * 1024) });

      const failure = log.append([oversized]);

      await expect(failure).rejects.toMatchObject({ code: 'SWB_ERR_UNAVAILABLE' });
      await expect(failure).rejects.toHaveProperty('cause');
      await log.append([buildMessage('g.large', 2, 'alice')]);
      const records = await collect(uniqueId('group'));
      await waitFor(() => records.length === 1, 'the record after the failure to be consumed', 10_000);
      expect(records.map(keyOf)).toEqual(['g.large#2']);
    });

    it('rejects calls after close', async () => {
      await log.close();

      await expect(log.append([buildMessage('g.closed', 1, 'alice')])).rejects.toMatchObject({
        code: 'SWB_ERR_UNAVAILABLE',
      });
      await expect(log.awaitConsumed('reader', 10)).rejects.toMatchObject({ code: 'SWB_ERR_UNAVAILABLE' });
      await expect(log.consume('reader', async () => {})).rejects.toMatchObject({
        code: 'SWB_ERR_UNAVAILABLE',
      });
    });
  });
});

describe('KafkaLog options', () => {
  it('rejects connect without a broker', async () => {
    const port = await findClosedPort();

    const started = Date.now();
    const failure = KafkaLog.connect({
      brokers: [`127.0.0.1:${port}`],
      topic: 'unreachable',
      logger,
      retries: 1,
      connectionTimeoutMs: 500,
    });

    await expect(failure).rejects.toMatchObject({ code: 'SWB_ERR_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it.each([
    [{ partitions: 0 }, 'partitions'],
    [{ topic: 'bad topic' }, 'topic'],
    [{ brokers: [] }, 'brokers'],
    [{ brokers: ['no-port'] }, 'brokers'],
    [{ replicationFactor: 1, minInSyncReplicas: 2 }, 'minInSyncReplicas'],
    [{ retries: 0 }, 'retries'],
  ])('rejects invalid option %o', async (options, variable) => {
    const failure = KafkaLog.connect({ brokers: ['127.0.0.1:1'], topic: 'unused', logger, ...options });

    await expect(failure).rejects.toMatchObject({ code: 'SWB_ERR_CONFIG_INVALID', variable });
  });
});

/** Opens a new KafkaLog on the same topic with other options, closing `previous`. */
async function reconnect(
  previous: KafkaLog,
  topic: string,
  options: Partial<KafkaLogOptions>,
): Promise<KafkaLog> {
  await previous.close();
  return connectLog(topic, options);
}

/** Reads `count` messages with a plain kafkajs consumer and maps each message key to its partitions. */
async function readPartitionsByConversation(topic: string, count: number): Promise<Map<string, Set<number>>> {
  const consumer = new Kafka({
    clientId: 'kafka-log-test-reader',
    brokers,
    logLevel: logLevel.NOTHING,
  }).consumer({ groupId: uniqueId('reader'), maxWaitTimeInMs: 200 });
  const partitionsOf = new Map<string, Set<number>>();
  let seen = 0;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const conv = message.key?.toString() ?? '';
        const partitions = partitionsOf.get(conv) ?? new Set<number>();
        partitions.add(partition);
        partitionsOf.set(conv, partitions);
        seen += 1;
      },
    });
    await waitFor(() => seen >= count, `${count} messages read by partition`, 15_000);
  } finally {
    await consumer.disconnect();
  }
  return partitionsOf;
}

/** Returns a loopback port that nothing listens on: a port that was just free and is closed again. */
async function findClosedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return address.port;
}
