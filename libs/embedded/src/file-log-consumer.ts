import { setTimeout as sleep } from 'node:timers/promises';
import type { LogConsumer, Logger } from '@switchboard/core';
import { SegmentCursor } from './segment-cursor.ts';
import type { Segment } from './log-segments.ts';

export interface FileLogConsumerOptions {
  group: string;
  /** Offset of the first record to hand to the handler: the group's committed offset. */
  offset: number;
  handler: (records: unknown[]) => Promise<void>;
  maxBatchRecords: number;
  /** Pause after a batch shorter than `maxBatchRecords`, in milliseconds; 0 reads again at once. */
  batchDelayMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  segments: () => readonly Segment[];
  endOffset: () => number;
  /** Resolves after the next append becomes durable. */
  waitForAppend: () => Promise<void>;
  commit: (offset: number) => Promise<void>;
  logger: Logger;
}

/**
 * One running consumer of a FileLog group.
 *
 * It hands batches to the handler in order and commits a batch only after the handler
 * resolved. A rejected batch is handed over again after a backoff that doubles up to
 * `retryMaxMs`, so a persister that cannot write keeps its place in the log.
 */
export class FileLogConsumer implements LogConsumer {
  readonly #options: FileLogConsumerOptions;
  readonly #abort = new AbortController();
  readonly #stopped: Promise<void>;
  #running: Promise<void> = Promise.resolve();
  #offset: number;

  constructor(options: FileLogConsumerOptions) {
    this.#options = options;
    this.#offset = options.offset;
    this.#stopped = new Promise((resolve) => {
      this.#abort.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  start(): void {
    this.#running = this.#run().catch((err: unknown) => {
      this.#options.logger.error(
        { err, group: this.#options.group, offset: this.#offset },
        'log consumer failed',
      );
    });
  }

  /** Stops after the batch in progress, if any, was handled and committed. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  async #run(): Promise<void> {
    let cursor = new SegmentCursor(this.#options.segments, this.#offset);
    const readBatch = async (): Promise<unknown[]> => {
      try {
        const records = await cursor.read(this.#options.maxBatchRecords);
        if (records.length === 0) throw new Error(`no record readable at offset ${this.#offset}`);
        return records;
      } catch (err) {
        // A failed read may have moved the cursor part-way, so start again at the next record.
        await cursor.close();
        cursor = new SegmentCursor(this.#options.segments, this.#offset);
        throw err;
      }
    };

    try {
      while (!this.#abort.signal.aborted) {
        if (this.#offset >= this.#options.endOffset()) {
          await Promise.race([this.#options.waitForAppend(), this.#stopped]);
          continue;
        }

        const read = await this.#retry('log read failed', readBatch);
        if (read === undefined) break;
        const records = read.value;

        const handled = await this.#retry('log handler failed', () => this.#options.handler(records));
        if (handled === undefined) break;

        this.#offset += records.length;
        await this.#retry('log offset commit failed', () => this.#options.commit(this.#offset));
        if (this.#options.batchDelayMs > 0 && records.length < this.#options.maxBatchRecords) {
          await sleep(this.#options.batchDelayMs, undefined, { signal: this.#abort.signal }).catch(
            () => undefined,
          );
        }
      }
    } finally {
      await cursor.close();
    }
  }

  /**
   * Runs `attempt` until it resolves, with a doubling backoff between failures.
   *
   * Returns undefined, without another attempt, when the consumer is stopped after a failure.
   */
  async #retry<T>(phrase: string, attempt: () => Promise<T>): Promise<{ value: T } | undefined> {
    const { group, retryInitialMs, retryMaxMs, logger } = this.#options;
    let delayMs = retryInitialMs;
    for (let attemptNumber = 1; ; attemptNumber += 1) {
      try {
        return { value: await attempt() };
      } catch (err) {
        logger.warn({ err, group, offset: this.#offset, attempt: attemptNumber, delayMs }, phrase);
      }
      if (this.#abort.signal.aborted) return undefined;
      await sleep(delayMs, undefined, { signal: this.#abort.signal }).catch(() => undefined);
      if (this.#abort.signal.aborted) return undefined;
      delayMs = Math.min(delayMs * 2, retryMaxMs);
    }
  }
}
