import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { UnavailableError, type LogConsumer, type Logger } from '@switchboard/core';
import type { KafkaRecordCodec } from './record-codec.ts';

export interface KafkaLogConsumerOptions<R> {
  kafka: Kafka;
  topic: string;
  group: string;
  codec: KafkaRecordCodec<R>;
  handler: (records: R[]) => Promise<void>;
  maxBatchRecords: number;
  retryInitialMs: number;
  retryMaxMs: number;
  maxWaitTimeMs: number;
  sessionTimeoutMs: number;
  logger: Logger;
}

// kafkajs sends a heartbeat only when the last one is older than its heartbeatInterval (3 s by
// default), so asking every second while a handler runs costs at most one request per interval.
const HANDLER_HEARTBEAT_MS = 1_000;

/**
 * One kafkajs consumer in a group, handing the handler the records of one partition at a time.
 *
 * Offsets are committed per chunk of at most `maxBatchRecords` records, and only after the
 * handler resolved. A rejected chunk is neither resolved nor committed, so after a backoff that
 * doubles up to `retryMaxMs` the next fetch starts at it again and hands it over once more.
 */
export class KafkaLogConsumer<R> implements LogConsumer {
  readonly #options: KafkaLogConsumerOptions<R>;
  readonly #consumer: Consumer;
  readonly #logger: Logger;
  /** Aborts a backoff sleep at stop. A handler call in progress runs to its end. */
  readonly #abort = new AbortController();
  /** Next backoff per partition after a rejected chunk, absent while the partition succeeds. */
  readonly #retryDelays = new Map<number, number>();
  #stopping: Promise<void> | null = null;

  private constructor(options: KafkaLogConsumerOptions<R>, consumer: Consumer) {
    this.#options = options;
    this.#consumer = consumer;
    this.#logger = options.logger.child({ group: options.group, topic: options.topic });
  }

  /** Joins the group and starts fetching. Rejects with UnavailableError when Kafka cannot be reached. */
  static async start<R>(options: KafkaLogConsumerOptions<R>): Promise<KafkaLogConsumer<R>> {
    const consumer = options.kafka.consumer({
      groupId: options.group,
      maxWaitTimeInMs: options.maxWaitTimeMs,
      sessionTimeout: options.sessionTimeoutMs,
      allowAutoTopicCreation: false,
    });
    const running = new KafkaLogConsumer(options, consumer);
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) {
        running.#logger.warn({ err: payload.error }, 'log consumer crashed and restarts');
      } else {
        running.#logger.error({ err: payload.error }, 'log consumer crashed and stopped');
      }
    });

    try {
      await consumer.connect();
      // A new group starts at the oldest kept record, so it reads the whole log.
      await consumer.subscribe({ topics: [options.topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => running.#handleBatch(payload),
      });
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw new UnavailableError(`kafka consumer of group ${options.group} failed to start`, { cause: err });
    }
    running.#logger.info('log consumer started');
    return running;
  }

  /** Stops after the chunk in progress, if any, was handled and committed, then disconnects. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#abort.abort();
    try {
      await this.#consumer.disconnect();
    } catch (err) {
      this.#logger.warn({ err }, 'log consumer disconnect failed');
    }
    this.#logger.info('log consumer stopped');
  }

  async #handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale } = payload;
    const { maxBatchRecords, handler } = this.#options;

    for (let start = 0; start < batch.messages.length; start += maxBatchRecords) {
      if (!isRunning() || isStale()) return;
      const messages = batch.messages.slice(start, start + maxBatchRecords);
      const first = messages[0]!.offset;
      const last = messages.at(-1)!.offset;

      const records = this.#decode(batch.partition, messages);
      if (records.length > 0) {
        // kafkajs heartbeats only between batches, so a handler call longer than the session
        // timeout would cost the group membership without these. A rebalance that they report
        // surfaces again in the commit or the heartbeat after it, which makes kafkajs rejoin.
        const keepAlive = setInterval(() => void heartbeat().catch(() => undefined), HANDLER_HEARTBEAT_MS);
        try {
          await handler(records);
        } catch (err) {
          // NOTE: with one partition consumed at a time (the kafkajs default), this backoff also
          // delays the other partitions of this consumer.
          await this.#backOff(batch.partition, first, err);
          return;
        } finally {
          clearInterval(keepAlive);
        }
      }
      this.#retryDelays.delete(batch.partition);

      // The payload's commit goes to the group coordinator directly. consumer.commitOffsets
      // would drop it once stop began, and stop must still commit the chunk in progress.
      const next = (BigInt(last) + 1n).toString();
      await commitOffsetsIfNecessary({
        topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }],
      });
      resolveOffset(last);
      await heartbeat();
    }
  }

  #decode(partition: number, messages: KafkaMessage[]): R[] {
    const records: R[] = [];
    for (const message of messages) {
      try {
        records.push(this.#options.codec.decode(message.value));
      } catch (err) {
        // Only this adapter writes the topic, so such a message is corrupt or foreign. Blocking
        // the partition on it would stop every conversation there, so it is skipped.
        this.#logger.error({ err, partition, offset: message.offset }, 'undecodable log message skipped');
      }
    }
    return records;
  }

  async #backOff(partition: number, offset: string, err: unknown): Promise<void> {
    const { retryInitialMs, retryMaxMs } = this.#options;
    const delayMs = this.#retryDelays.get(partition) ?? retryInitialMs;
    this.#retryDelays.set(partition, Math.min(delayMs * 2, retryMaxMs));
    this.#logger.warn({ err, partition, offset, delayMs }, 'log handler failed');
    await sleep(delayMs, undefined, { signal: this.#abort.signal }).catch(() => undefined);
  }
}
