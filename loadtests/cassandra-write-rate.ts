/**
 * Measures CassandraStore.applyRecords throughput into a local Cassandra node.
 *
 * Writes batches of message records (500 by default, each with two stream targets and a
 * 100-byte body) one after another, as one persister consumer does, into a fresh keyspace
 * that is dropped at the end. Prints records per second and batch latency percentiles.
 *
 *   deploy/local/cassandra.sh up
 *   npx tsx loadtests/cassandra-write-rate.ts
 *
 * Variables: SWB_CASSANDRA_CONTACT_POINTS (loopback only, default 127.0.0.1:9042),
 * SWB_CASSANDRA_DC (default datacenter1), SWB_WRITE_RATE_BATCHES (measured batches, default
 * 40), SWB_WRITE_RATE_BATCH_SIZE (default 500), SWB_WRITE_RATE_CONVERSATIONS (conversations
 * the messages spread over, default 1,000), SWB_WRITE_RATE_CONCURRENCY (requests in flight
 * per call, default 64). The run stops early after 120 s of measuring.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import cassandra from 'cassandra-driver';
import type { MessageRecord } from '@switchboard/core';
import { buildDirectConversationId } from '@switchboard/protocol';
import { CassandraStore } from '@switchboard/cassandra';

const CONTACT_POINTS = (process.env.SWB_CASSANDRA_CONTACT_POINTS ?? '127.0.0.1:9042').split(',');
const LOCAL_DATA_CENTER = process.env.SWB_CASSANDRA_DC ?? 'datacenter1';
const BATCHES = readCount('SWB_WRITE_RATE_BATCHES', 40, 1_000);
const BATCH_SIZE = readCount('SWB_WRITE_RATE_BATCH_SIZE', 500, 10_000);
const CONVERSATIONS = readCount('SWB_WRITE_RATE_CONVERSATIONS', 1_000, 1_000_000);
const CONCURRENCY = readCount('SWB_WRITE_RATE_CONCURRENCY', 64, 1_024);
const WARMUP_BATCHES = 3;
const MAX_MEASURE_MS = 120_000;
const BODY = 'x'.repeat(100);

function readCount(name: string, fallback: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new Error(`${name} must be an integer from 1 to ${max}, got "${raw}"`);
  }
  return value;
}

function assertLoopback(points: string[]): void {
  for (const point of points) {
    const host = point.trim().replace(/:\d+$/, '');
    if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== 'localhost') {
      throw new Error(`SWB_CASSANDRA_CONTACT_POINTS must name loopback addresses only, got "${point}"`);
    }
  }
}

/** Builds message records round-robin over the conversations, with per-conversation and per-user counters. */
class RecordSource {
  readonly #seqs = new Map<string, number>();
  readonly #positions = new Map<string, number>();
  #next = 0;

  nextBatch(size: number, now: number): MessageRecord[] {
    const records: MessageRecord[] = [];
    for (let index = 0; index < size; index += 1) {
      const pair = this.#next % CONVERSATIONS;
      this.#next += 1;
      const sender = `a${pair}`;
      const recipient = `b${pair}`;
      const conv = buildDirectConversationId(sender, recipient);
      const seq = this.#advance(this.#seqs, conv);
      records.push({
        kind: 'message',
        conv,
        seq,
        from: sender,
        id: `m-${seq}`,
        body: BODY,
        ts: now,
        targets: [
          { user: sender, pos: this.#advance(this.#positions, sender) },
          { user: recipient, pos: this.#advance(this.#positions, recipient) },
        ],
      });
    }
    return records;
  }

  seqOf(conv: string): number {
    return this.#seqs.get(conv) ?? 0;
  }

  #advance(counters: Map<string, number>, key: string): number {
    const value = (counters.get(key) ?? 0) + 1;
    counters.set(key, value);
    return value;
  }
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

async function dropKeyspace(keyspace: string): Promise<void> {
  const admin = new cassandra.Client({ contactPoints: CONTACT_POINTS, localDataCenter: LOCAL_DATA_CENTER });
  try {
    await admin.connect();
    await admin.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`, [], { readTimeout: 60_000 });
  } finally {
    await admin.shutdown();
  }
}

async function main(): Promise<void> {
  assertLoopback(CONTACT_POINTS);
  const keyspace = `swb_write_rate_${randomBytes(4).toString('hex')}`;
  const store = await CassandraStore.connect({
    contactPoints: CONTACT_POINTS,
    localDataCenter: LOCAL_DATA_CENTER,
    keyspace,
    concurrency: CONCURRENCY,
  });

  try {
    const source = new RecordSource();
    for (let batch = 0; batch < WARMUP_BATCHES; batch += 1) {
      await store.applyRecords(source.nextBatch(BATCH_SIZE, Date.now()));
    }

    const latencies: number[] = [];
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    for (let batch = 0; batch < BATCHES && performance.now() - started < MAX_MEASURE_MS; batch += 1) {
      const records = source.nextBatch(BATCH_SIZE, Date.now());
      const batchStarted = performance.now();
      await store.applyRecords(records);
      latencies.push(performance.now() - batchStarted);
    }
    const elapsedMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);

    // A run that wrote nothing would report a fine rate, so read one conversation back.
    const probe = buildDirectConversationId('a0', 'b0');
    const stored = await store.maxSeq(probe);
    if (stored !== source.seqOf(probe)) {
      throw new Error(
        `conversation ${probe} has max seq ${stored} in Cassandra, expected ${source.seqOf(probe)}`,
      );
    }

    const records = latencies.length * BATCH_SIZE;
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(
      JSON.stringify(
        {
          batches: latencies.length,
          batchSize: BATCH_SIZE,
          targetsPerRecord: 2,
          conversations: CONVERSATIONS,
          concurrency: CONCURRENCY,
          records,
          seconds: Number((elapsedMs / 1_000).toFixed(2)),
          recordsPerSecond: Math.round(records / (elapsedMs / 1_000)),
          // CPU time of this Node.js process, which encodes the requests, while measuring.
          clientCpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
          batchMs: {
            p50: Number(percentile(sorted, 0.5).toFixed(1)),
            p99: Number(percentile(sorted, 0.99).toFixed(1)),
            max: Number(sorted.at(-1)!.toFixed(1)),
          },
          machine: {
            cpus: cpus().length,
            cpuModel: cpus()[0]?.model,
            memoryGiB: Math.round(totalmem() / 2 ** 30),
            loadAverage: loadavg().map((load) => Number(load.toFixed(2))),
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await store.close();
    await dropKeyspace(keyspace);
  }
}

await main();
