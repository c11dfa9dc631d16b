import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, Partitioners, type Admin, type Producer, type RecordMetadata } from 'kafkajs';
import {
  ConfigError,
  UnavailableError,
  type DurableLog,
  type LogConsumer,
  type LogRecord,
  type Logger,
} from '@switchboard/core';
import { ConsumedWatch, type PartitionEnds } from './consumed-watch.ts';
import { buildKafkaLogCreator, kafkaLogLevel } from './kafka-client-logger.ts';
import { KafkaLogConsumer } from './kafka-log-consumer.ts';
import {
  resolveKafkaLogOptions,
  type KafkaLogOptions,
  type ResolvedKafkaLogOptions,
} from './kafka-log-options.ts';
import { LOG_RECORD_CODEC, type EncodedRecord, type KafkaRecordCodec } from './record-codec.ts';
import { SharedCall } from './shared-call.ts';

interface PendingAppend {
  messages: EncodedRecord[];
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The durable log of the cluster profile: one Kafka topic, written by an idempotent producer.
 *
 * Each record is a message keyed by its conversation id, so a conversation stays in one
 * partition and keeps its order. `append` resolves only after every in-sync replica
 * acknowledged the records (acks -1). Appends are group committed: appends that arrive while a
 * `producer.sendBatch` is in flight go together into the next one.
 */
export class KafkaLog<R = LogRecord> implements DurableLog<R> {
  readonly #options: ResolvedKafkaLogOptions;
  readonly #codec: KafkaRecordCodec<R>;
  readonly #kafka: Kafka;
  readonly #admin: Admin;
  readonly #logger: Logger;
  readonly #consumers = new Set<KafkaLogConsumer<R>>();
  readonly #watches = new Map<string, ConsumedWatch>();
  readonly #endOffsets: SharedCall<Map<number, PartitionEnds>>;
  #producer: Producer;
  /** Set after a failed send, so that the next send first replaces the producer. */
  #producerFailed = false;
  #queue: PendingAppend[] = [];
  #flushing: Promise<void> | null = null;
  #sendsStarted = 0;
  #batchesSent = 0;
  #committedOffsetFetches = 0;
  #closed = false;

  private constructor(
    options: ResolvedKafkaLogOptions,
    codec: KafkaRecordCodec<R>,
    kafka: Kafka,
    admin: Admin,
  ) {
    this.#options = options;
    this.#codec = codec;
    this.#kafka = kafka;
    this.#admin = admin;
    this.#logger = options.logger.child({ topic: options.topic });
    this.#producer = this.#createProducer();
    this.#endOffsets = new SharedCall(() => this.#fetchEndOffsets());
  }

  /**
   * Connects to the brokers, creates the topic when missing and connects the producer.
   *
   * Rejects with ConfigError for a bad option and with UnavailableError when Kafka cannot be
   * reached or the topic cannot be created. Without `codec` the log carries message and
   * receipt records, keyed by conversation.
   */
  static connect(options: KafkaLogOptions): Promise<KafkaLog>;
  static connect<R>(options: KafkaLogOptions, codec: KafkaRecordCodec<R>): Promise<KafkaLog<R>>;
  static async connect<R>(
    options: KafkaLogOptions,
    codec?: KafkaRecordCodec<R>,
  ): Promise<KafkaLog<R> | KafkaLog> {
    const resolved = resolveKafkaLogOptions(options);
    const kafka = new Kafka({
      clientId: resolved.clientId,
      brokers: resolved.brokers,
      connectionTimeout: resolved.connectionTimeoutMs,
      requestTimeout: resolved.requestTimeoutMs,
      retry: { retries: resolved.retries },
      logLevel: kafkaLogLevel(resolved.logger),
      logCreator: buildKafkaLogCreator(resolved.logger),
    });
    const admin = kafka.admin();
    const log =
      codec === undefined
        ? new KafkaLog(resolved, LOG_RECORD_CODEC, kafka, admin)
        : new KafkaLog(resolved, codec, kafka, admin);

    try {
      await admin.connect();
      await log.#ensureTopic();
      await log.#producer.connect();
    } catch (err) {
      await log.#disconnectClients();
      throw new UnavailableError(
        `kafka log failed to connect to ${resolved.brokers.join(',')} and open topic ${resolved.topic}`,
        { cause: err },
      );
    }
    log.#logger.info({ brokers: resolved.brokers }, 'kafka log connected');
    return log;
  }

  /** Number of `producer.sendBatch` calls that succeeded, each carrying one or more appends. */
  get batchesSent(): number {
    return this.#batchesSent;
  }

  /** Number of committed-offset requests made by `awaitConsumed` and `lag`. */
  get committedOffsetFetches(): number {
    return this.#committedOffsetFetches;
  }

  /** Number of end-offset samples made by `awaitConsumed` and `lag`. */
  get endOffsetSamples(): number {
    return this.#endOffsets.calls;
  }

  async append(records: R[]): Promise<void> {
    this.#assertOpen();
    if (records.length === 0) return;

    const messages = records.map((record) => this.#codec.encode(record));
    let bytes = 0;
    for (const message of messages) {
      bytes += Buffer.byteLength(message.key) + Buffer.byteLength(message.value);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ messages, bytes, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  async consume(group: string, handler: (records: R[]) => Promise<void>): Promise<LogConsumer> {
    this.#assertOpen();
    assertGroupName(group);

    const consumer = await KafkaLogConsumer.start({
      kafka: this.#kafka,
      topic: this.#options.topic,
      group,
      codec: this.#codec,
      handler,
      maxBatchRecords: this.#options.maxBatchRecords,
      retryInitialMs: this.#options.retryInitialMs,
      retryMaxMs: this.#options.retryMaxMs,
      maxWaitTimeMs: this.#options.maxWaitTimeMs,
      sessionTimeoutMs: this.#options.sessionTimeoutMs,
      logger: this.#logger,
    });
    if (this.#closed) {
      await consumer.stop();
      throw new UnavailableError('kafka log is closed');
    }
    this.#consumers.add(consumer);
    return {
      stop: async () => {
        await consumer.stop();
        this.#consumers.delete(consumer);
      },
    };
  }

  /**
   * Waits until `group` has committed, in every partition, the end offset sampled at the call.
   *
   * Returns false when `timeoutMs` passes first or the log closes. Kafka errors while sampling
   * or polling are logged and retried until the timeout, and do not reject.
   */
  async awaitConsumed(group: string, timeoutMs: number): Promise<boolean> {
    this.#assertOpen();
    assertGroupName(group);
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new ConfigError('timeoutMs', `expected a non-negative number of milliseconds, got ${timeoutMs}`);
    }

    let watch = this.#watches.get(group);
    if (watch === undefined) {
      watch = new ConsumedWatch({
        group,
        sampleEnds: () => this.#endOffsets.run(),
        fetchCommitted: () => this.#fetchCommitted(group),
        pollIntervalMs: this.#options.pollIntervalMs,
        logger: this.#logger,
      });
      this.#watches.set(group, watch);
    }
    return watch.wait(timeoutMs, this.#sendsStarted);
  }

  /**
   * Returns the records of the topic that `group` has not committed: the sum over partitions
   * of the end offset minus the committed offset. Rejects with UnavailableError on a Kafka error.
   */
  async lag(group: string): Promise<number> {
    this.#assertOpen();
    assertGroupName(group);

    try {
      const [ends, committed] = await Promise.all([this.#endOffsets.run(), this.#fetchCommitted(group)]);
      let total = 0;
      for (const [partition, { high, low }] of ends) {
        const position = Math.max(committed.get(partition) ?? -1, low);
        total += Math.max(0, high - position);
      }
      return total;
    } catch (err) {
      throw new UnavailableError(`reading the kafka lag of group ${group} failed`, { cause: err });
    }
  }

  /** Stops the consumers, waits for appends in flight, then disconnects the producer and admin. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;

    for (const watch of this.#watches.values()) watch.close();
    await Promise.all([...this.#consumers].map((consumer) => consumer.stop()));
    this.#consumers.clear();
    await this.#flushing;
    await this.#disconnectClients();
    this.#logger.info({ batchesSent: this.#batchesSent }, 'kafka log closed');
  }

  #createProducer(): Producer {
    return this.#kafka.producer({
      // DefaultPartitioner is the Java client's murmur2 partitioner (kafkajs 2 renamed its
      // JavaCompatiblePartitioner to it), so a conversation id maps to the same partition from
      // any Kafka client or tool. Naming it explicitly also silences the warning that kafkajs
      // 2.x logs for producers that rely on the default having changed since 1.x.
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      // KIP-98 sets one request in flight per connection as the condition for idempotence.
      // kafkajs 2.2.4 serializes idempotent produce requests per broker under a lock anyway.
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
  }

  async #ensureTopic(): Promise<void> {
    const { topic, partitions, replicationFactor, minInSyncReplicas } = this.#options;
    // Listing first avoids a create request for an existing topic, which kafkajs logs as a
    // warning. Two processes that create the topic at once still race, and one gets false back.
    const exists = (await this.#admin.listTopics()).includes(topic);
    const created =
      !exists &&
      (await this.#admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: partitions,
            replicationFactor,
            configEntries: [{ name: 'min.insync.replicas', value: String(minInSyncReplicas) }],
          },
        ],
      }));
    if (created) {
      await this.#awaitOffsetsReadable();
      this.#logger.info({ partitions, replicationFactor, minInSyncReplicas }, 'kafka topic created');
      return;
    }

    const metadata = await this.#admin.fetchTopicMetadata({ topics: [topic] });
    const existing = metadata.topics[0]?.partitions.length ?? 0;
    if (existing !== partitions) {
      this.#logger.warn(
        { partitions: existing, configured: partitions },
        'kafka topic partition count differs',
      );
    }
  }

  /**
   * Waits until ListOffsets succeeds on every partition of a topic just created.
   *
   * kafkajs 2.2.4 has already seen leaders in the metadata when createTopics resolves, but a
   * Kafka 3.9 KRaft broker can still reject ListOffsets with NOT_LEADER_FOR_PARTITION for a
   * moment, and admin.fetchTopicOffsets does not retry that error.
   */
  async #awaitOffsetsReadable(): Promise<void> {
    const deadline = Date.now() + this.#options.requestTimeoutMs;
    for (;;) {
      try {
        await this.#admin.fetchTopicOffsets(this.#options.topic);
        return;
      } catch (err) {
        if (!isRetriable(err) || Date.now() > deadline) throw err;
      }
      await sleep(50);
    }
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        await this.#send(this.#takeBatch());
      }
    } finally {
      // Runs in the same turn as the last empty-queue check, so no append can slip between.
      this.#flushing = null;
    }
  }

  /** Takes queued appends up to `maxSendBytes` and `maxAppendsPerSend`, and always at least one. */
  #takeBatch(): PendingAppend[] {
    const { maxSendBytes, maxAppendsPerSend } = this.#options;
    let count = 1;
    let bytes = this.#queue[0]!.bytes;
    while (count < this.#queue.length && count < maxAppendsPerSend) {
      const next = this.#queue[count]!.bytes;
      if (bytes + next > maxSendBytes) break;
      bytes += next;
      count += 1;
    }
    return this.#queue.splice(0, count);
  }

  /** Sends one group commit. On failure it rejects the batch's appends instead of throwing. */
  async #send(batch: PendingAppend[]): Promise<void> {
    const sendId = ++this.#sendsStarted;
    const messages = batch.flatMap((pending) => pending.messages);
    let metadata: RecordMetadata[];
    try {
      if (this.#producerFailed) await this.#replaceProducer();
      metadata = await this.#producer.sendBatch({
        acks: -1,
        topicMessages: [{ topic: this.#options.topic, messages }],
      });
    } catch (err) {
      // A send that failed may still have been written. kafkajs 2.2.4 then hands its sequence
      // numbers to the next send, which the broker would drop as a duplicate or reject as out
      // of order, so the next send starts with a new producer id instead.
      this.#producerFailed = true;
      this.#logger.warn({ err, records: messages.length, appends: batch.length }, 'kafka append failed');
      const error = new UnavailableError('kafka append failed, retry it with the same ids', { cause: err });
      for (const pending of batch) pending.reject(error);
      return;
    }

    this.#batchesSent += 1;
    const baseOffsets = new Map<number, number>();
    for (const entry of metadata) {
      if (entry.baseOffset !== undefined) baseOffsets.set(entry.partition, Number(entry.baseOffset));
    }
    for (const watch of this.#watches.values()) watch.noteSend(sendId, baseOffsets);
    for (const pending of batch) pending.resolve();
  }

  async #replaceProducer(): Promise<void> {
    const previous = this.#producer;
    this.#producer = this.#createProducer();
    await previous.disconnect().catch((err: unknown) => {
      this.#logger.warn({ err }, 'kafka producer disconnect failed');
    });
    await this.#producer.connect();
    this.#producerFailed = false;
    this.#logger.info('kafka producer replaced after a failed send');
  }

  async #fetchEndOffsets(): Promise<Map<number, PartitionEnds>> {
    const offsets = await this.#admin.fetchTopicOffsets(this.#options.topic);
    const ends = new Map<number, PartitionEnds>();
    for (const { partition, high, low } of offsets) {
      ends.set(partition, { high: Number(high), low: Number(low) });
    }
    return ends;
  }

  async #fetchCommitted(group: string): Promise<Map<number, number>> {
    this.#committedOffsetFetches += 1;
    const topics = await this.#admin.fetchOffsets({ groupId: group, topics: [this.#options.topic] });
    const committed = new Map<number, number>();
    for (const { partition, offset } of topics[0]?.partitions ?? []) {
      committed.set(partition, Number(offset));
    }
    return committed;
  }

  async #disconnectClients(): Promise<void> {
    const results = await Promise.allSettled([this.#producer.disconnect(), this.#admin.disconnect()]);
    for (const result of results) {
      if (result.status === 'rejected') {
        this.#logger.warn({ err: result.reason }, 'kafka client disconnect failed');
      }
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new UnavailableError('kafka log is closed');
  }
}

function assertGroupName(group: string): void {
  if (typeof group !== 'string' || group === '' || group.length > 255) {
    throw new ConfigError(
      'group',
      `expected a consumer group id of 1 to 255 characters, got ${JSON.stringify(group)}`,
    );
  }
}

/** Tells whether `err` is a kafkajs error marked retriable, such as NOT_LEADER_FOR_PARTITION. */
function isRetriable(err: unknown): boolean {
  // Checked by property because kafkajs spreads its error classes into module.exports, which
  // Node's ESM loader cannot see as named exports of this CommonJS package.
  return typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;
}
