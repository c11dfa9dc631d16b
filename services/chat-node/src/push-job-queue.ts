import type { DurableLog, Logger, PushJob } from '@switchboard/core';

export interface PushJobQueueOptions {
  log: DurableLog<PushJob>;
  logger: Logger;
  /** Jobs waiting for an append, beyond which new jobs are dropped and counted; default 10,000. */
  maxPending?: number;
  /** Maximum jobs per append; default 500. */
  maxBatch?: number;
}

/** Counts of a queue's jobs since it started. */
export interface PushJobStats {
  appended: number;
  /** Jobs whose append was rejected by the log. */
  failed: number;
  /** Jobs dropped because `maxPending` jobs were already waiting. */
  dropped: number;
}

/** Interval between warnings about failed or dropped jobs, so a log outage logs a few lines. */
const WARN_INTERVAL_MS = 10_000;

/**
 * Appends push jobs to the push-jobs log off the delivery path.
 *
 * `add` never waits and never throws. Jobs added in one event-loop turn go into one append,
 * and while an append is in flight new jobs wait for the next one. A job whose append fails,
 * or that finds `maxPending` jobs waiting, is counted and logged, not retried: a push is a
 * hint, and the message itself is already durable in the messages log.
 */
export class PushJobQueue {
  readonly #log: DurableLog<PushJob>;
  readonly #logger: Logger;
  readonly #maxPending: number;
  readonly #maxBatch: number;
  #pending: PushJob[] = [];
  #flushing: Promise<void> | null = null;
  #scheduled = false;
  #lastWarnAt = 0;
  readonly stats: PushJobStats = { appended: 0, failed: 0, dropped: 0 };

  constructor(options: PushJobQueueOptions) {
    this.#log = options.log;
    this.#logger = options.logger;
    this.#maxPending = options.maxPending ?? 10_000;
    this.#maxBatch = options.maxBatch ?? 500;
  }

  add(job: PushJob): void {
    if (this.#pending.length >= this.#maxPending) {
      this.stats.dropped++;
      this.#warn({ dropped: this.stats.dropped, maxPending: this.#maxPending }, 'push job queue full');
      return;
    }
    this.#pending.push(job);
    if (this.#flushing === null && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#flushing ??= this.#flush();
      });
    }
  }

  /** Resolves once every job added before the call was appended or counted as failed. */
  async drain(): Promise<void> {
    while (this.#pending.length > 0 || this.#flushing !== null) {
      this.#flushing ??= this.#flush();
      await this.#flushing;
    }
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, this.#maxBatch);
        try {
          await this.#log.append(batch);
          this.stats.appended += batch.length;
        } catch (err) {
          this.stats.failed += batch.length;
          this.#warn({ err, jobs: batch.length, failed: this.stats.failed }, 'push job append failed');
        }
      }
    } finally {
      this.#flushing = null;
    }
  }

  #warn(fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - this.#lastWarnAt < WARN_INTERVAL_MS) return;
    this.#lastWarnAt = now;
    this.#logger.warn(fields, message);
  }
}
