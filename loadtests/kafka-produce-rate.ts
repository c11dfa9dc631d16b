/**
 * Measures appends per second from one process into a local Kafka broker, each acknowledged
 * by all in-sync replicas (acks -1) of an idempotent producer.
 *
 * It runs three modes one after another on one new topic, each for SWB_PRODUCE_SECONDS
 * (default 3) after a 0.5 s warm-up, with SWB_PRODUCE_CONCURRENCY (default 256) loops that each
 * append one record and wait for it:
 *   1. KafkaLog as configured by default: concurrent appends share one producer.sendBatch.
 *   2. KafkaLog with maxAppendsPerSend 1: one sendBatch per append, sent one at a time.
 *   3. A bare kafkajs producer with the same settings and one concurrent sendBatch per append.
 * After each mode it checks that the topic grew by exactly the acknowledged appends, then it
 * deletes the topic and prints a table. A failed append (an idempotent producer may still have
 * written it) is counted, and then the check may fail. Usage: npx tsx loadtests/kafka-produce-rate.ts
 */
import { cpus, loadavg, totalmem } from 'node:os';
import hdr from 'hdr-histogram-js';
import { Kafka, Partitioners, logLevel, type Admin } from 'kafkajs';
import { createLogger, type LogRecord } from '@switchboard/core';
import { KafkaLog, type KafkaLogOptions } from '@switchboard/kafka';

const BROKERS = (process.env.SWB_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((broker) => broker.trim());
const SECONDS = Number(process.env.SWB_PRODUCE_SECONDS ?? 3);
const CONCURRENCY = Number(process.env.SWB_PRODUCE_CONCURRENCY ?? 256);
const WARM_UP_MS = 500;
const CONVERSATIONS = 1_000;
const BODY = 'x'.repeat(100);

interface DriveResult {
  /** Appends that started and resolved inside the measured window. */
  appends: number;
  seconds: number;
  /** Every append that resolved, warm-up included. */
  acknowledged: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
}

interface ModeResult extends DriveResult {
  mode: string;
  sends: number | null;
  topicGrowth: number;
}

type Append = (record: LogRecord) => Promise<void>;

const logger = createLogger('kafka-produce-rate', { level: 'warn' });
const nextSeq = new Map<string, number>();

function buildRecord(index: number): LogRecord {
  const conv = `g.bench-${index % CONVERSATIONS}`;
  const seq = (nextSeq.get(conv) ?? 0) + 1;
  nextSeq.set(conv, seq);
  return {
    kind: 'message',
    conv,
    seq,
    from: 'alice',
    id: `m-${index}`,
    body: BODY,
    ts: Date.now(),
    targets: [
      { user: 'alice', pos: seq },
      { user: 'bob', pos: seq },
    ],
  };
}

/** Runs CONCURRENCY append loops for the warm-up and then SECONDS, counting only the latter. */
async function drive(append: Append): Promise<DriveResult> {
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const start = performance.now();
  const measureFrom = start + WARM_UP_MS;
  const end = measureFrom + SECONDS * 1_000;
  let counter = 0;
  let appends = 0;
  let acknowledged = 0;
  let failed = 0;

  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const sentAt = performance.now();
      try {
        await append(buildRecord(counter++));
      } catch (err) {
        failed += 1;
        if (failed === 1) console.error('append failed', err);
        continue;
      }
      acknowledged += 1;
      const doneAt = performance.now();
      if (sentAt >= measureFrom && doneAt <= end) {
        appends += 1;
        histogram.recordValue(Math.max(1, Math.round((doneAt - sentAt) * 1_000)));
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));

  return {
    appends,
    seconds: SECONDS,
    acknowledged,
    failed,
    p50Ms: histogram.getValueAtPercentile(50) / 1_000,
    p99Ms: histogram.getValueAtPercentile(99) / 1_000,
  };
}

async function topicSize(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, { high }) => sum + Number(high), 0);
}

async function measureLog(admin: Admin, mode: string, options: Partial<KafkaLogOptions>, topic: string) {
  const log = await KafkaLog.connect({
    brokers: BROKERS,
    clientId: 'produce-rate',
    topic,
    logger,
    ...options,
  });
  const before = await topicSize(admin, topic);
  const sendsBefore = log.batchesSent;
  const counted = await drive((record) => log.append([record]));
  const sends = log.batchesSent - sendsBefore;
  await log.close();
  return {
    mode,
    ...counted,
    sends,
    topicGrowth: (await topicSize(admin, topic)) - before,
  } satisfies ModeResult;
}

async function measureBareProducer(admin: Admin, mode: string, topic: string): Promise<ModeResult> {
  const kafka = new Kafka({ clientId: 'produce-rate-bare', brokers: BROKERS, logLevel: logLevel.WARN });
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const before = await topicSize(admin, topic);
  const counted = await drive(async (record) => {
    await producer.sendBatch({
      acks: -1,
      topicMessages: [{ topic, messages: [{ key: record.conv, value: JSON.stringify(record) }] }],
    });
  });
  await producer.disconnect();
  return { mode, ...counted, sends: null, topicGrowth: (await topicSize(admin, topic)) - before };
}

function assertLoopback(brokers: string[]): void {
  for (const broker of brokers) {
    const host = broker.slice(0, broker.lastIndexOf(':'));
    if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== 'localhost') {
      throw new Error(`SWB_KAFKA_BROKERS must name loopback brokers only, got ${broker}`);
    }
  }
}

function formatTable(results: ModeResult[]): string {
  const lines = [
    '| mode | appends/s | appends per sendBatch | p50 ms | p99 ms | acknowledged | failed | topic grew by |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const result of results) {
    const rate = Math.round(result.appends / result.seconds);
    const perSend =
      result.sends === null || result.sends === 0 ? 'n/a' : (result.acknowledged / result.sends).toFixed(1);
    lines.push(
      `| ${result.mode} | ${rate} | ${perSend} | ${result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} | ${result.acknowledged} | ${result.failed} | ${result.topicGrowth} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  assertLoopback(BROKERS);
  const topic = `swb-produce-rate-${Date.now().toString(36)}`;
  const admin = new Kafka({
    clientId: 'produce-rate-admin',
    brokers: BROKERS,
    logLevel: logLevel.WARN,
  }).admin();
  await admin.connect();
  const results: ModeResult[] = [];
  try {
    results.push(await measureLog(admin, 'KafkaLog, group commit (default)', {}, topic));
    results.push(await measureLog(admin, 'KafkaLog, maxAppendsPerSend 1', { maxAppendsPerSend: 1 }, topic));
    results.push(await measureBareProducer(admin, 'kafkajs, one concurrent sendBatch per append', topic));
  } finally {
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 }).catch(() => undefined);
    await admin.disconnect();
  }

  console.log(
    `Kafka produce rate: ${SECONDS} s per mode, ${CONCURRENCY} concurrent appenders, one ` +
      `${BODY.length}-byte message record per append, acks -1, idempotent producer, brokers ${BROKERS.join(',')}`,
  );
  console.log(
    `Host: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ` +
      `${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${loadavg()[0]!.toFixed(2)}`,
  );
  console.log(formatTable(results));
  // Every loop waits for its last append, so with an idempotent producer the topic grows by
  // exactly the acknowledged appends: fewer means a lost record, more a duplicate.
  for (const result of results) {
    if (result.topicGrowth !== result.acknowledged) {
      console.error(
        `${result.mode}: the topic grew by ${result.topicGrowth} records, but ${result.acknowledged} were acknowledged`,
      );
      process.exitCode = 1;
    }
  }
}

await main();
