import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@switchboard/core';

/** Offsets of one partition from ListOffsets: `high` is the end offset, `low` the first kept one. */
export interface PartitionEnds {
  high: number;
  low: number;
}

export interface ConsumedWatchOptions {
  group: string;
  /** Samples the end offsets of every partition. Concurrent callers share one request. */
  sampleEnds: () => Promise<Map<number, PartitionEnds>>;
  /** Fetches the group's committed offset of every partition, -1 where it has none. */
  fetchCommitted: () => Promise<Map<number, number>>;
  pollIntervalMs: number;
  logger: Logger;
}

interface Waiter {
  /** Count of sends started before the call. Only later sends lower the target. */
  sendsBefore: number;
  ends: Map<number, PartitionEnds> | null;
  /** Lowest base offset per partition of a send that started after the call. */
  floors: Map<number, number>;
  finished: boolean;
  finish: (caughtUp: boolean) => void;
}

/**
 * Waits for one consumer group to commit up to the end offsets sampled at each call.
 *
 * Every waiter samples the end offsets once. The waiters of a group then share one poll of
 * committed offsets every `pollIntervalMs`, so a burst of calls does not multiply admin requests.
 *
 * The sample may already contain records that were appended after the call, because the
 * ListOffsets request races with later appends. Records acknowledged after the call need not be
 * waited for. So `noteSend` lowers a waiter's target in each partition to the base offset of any
 * send of this process that started after the call, because every record acknowledged before
 * the call has a lower offset.
 *
 * NOTE: appends of other processes cannot lower the target. When they land between the call and
 * the sample, the waiter also waits for them, which can only delay a true result or turn it false.
 */
export class ConsumedWatch {
  readonly #options: ConsumedWatchOptions;
  readonly #waiters = new Set<Waiter>();
  #polling = false;
  #wake: (() => void) | null = null;
  /** Set when a sample arrived while the poll was not sleeping, so the next sleep is skipped. */
  #wakeRequested = false;
  #closed = false;
  #polls = 0;

  constructor(options: ConsumedWatchOptions) {
    this.#options = options;
  }

  /** Number of committed-offset requests made so far. */
  get polls(): number {
    return this.#polls;
  }

  /** Resolves true once the group committed up to the sampled ends, or false after `timeoutMs`. */
  wait(timeoutMs: number, sendsBefore: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);

    return new Promise((resolve) => {
      const waiter: Waiter = {
        sendsBefore,
        ends: null,
        floors: new Map(),
        finished: false,
        finish: (caughtUp) => {
          if (waiter.finished) return;
          waiter.finished = true;
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(caughtUp);
        },
      };
      const timer = setTimeout(() => waiter.finish(false), timeoutMs);
      this.#waiters.add(waiter);
      void this.#sample(waiter);
      if (!this.#polling) void this.#poll();
    });
  }

  /** Lowers the targets of waiters that were called before send `sendId` started. */
  noteSend(sendId: number, baseOffsets: Map<number, number>): void {
    for (const waiter of this.#waiters) {
      if (sendId <= waiter.sendsBefore) continue;
      for (const [partition, offset] of baseOffsets) {
        const floor = waiter.floors.get(partition);
        if (floor === undefined || offset < floor) waiter.floors.set(partition, offset);
      }
    }
  }

  /** Resolves every waiter with false and stops polling. */
  close(): void {
    this.#closed = true;
    for (const waiter of [...this.#waiters]) waiter.finish(false);
    this.#wakePoll();
  }

  async #sample(waiter: Waiter): Promise<void> {
    let failures = 0;
    while (!waiter.finished) {
      try {
        waiter.ends = await this.#options.sampleEnds();
        this.#wakePoll();
        return;
      } catch (err) {
        failures += 1;
        if (failures === 1) {
          this.#options.logger.warn({ err, group: this.#options.group }, 'end offset sample failed');
        }
      }
      await sleep(this.#options.pollIntervalMs);
    }
  }

  async #poll(): Promise<void> {
    this.#polling = true;
    let failures = 0;
    try {
      while (this.#waiters.size > 0 && !this.#closed) {
        const ready = [...this.#waiters].filter((waiter) => waiter.ends !== null);
        if (ready.length > 0) {
          try {
            this.#polls += 1;
            const committed = await this.#options.fetchCommitted();
            if (failures > 0) {
              this.#options.logger.info(
                { group: this.#options.group, failures },
                'committed offset poll recovered',
              );
            }
            failures = 0;
            for (const waiter of ready) {
              if (isCaughtUp(waiter, committed)) waiter.finish(true);
            }
          } catch (err) {
            failures += 1;
            // Repeats of one outage are counted and reported when it ends, not logged each time.
            if (failures === 1) {
              this.#options.logger.warn({ err, group: this.#options.group }, 'committed offset poll failed');
            }
          }
        }
        if (this.#waiters.size > 0) await this.#sleepUntilWoken();
      }
    } finally {
      this.#polling = false;
    }
  }

  /** Sleeps `pollIntervalMs`, or less when a waiter's sample arrives or the watch closes. */
  #sleepUntilWoken(): Promise<void> {
    if (this.#wakeRequested) {
      this.#wakeRequested = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, this.#options.pollIntervalMs);
      this.#wake = done;
    });
  }

  #wakePoll(): void {
    if (this.#wake === null) {
      this.#wakeRequested = true;
      return;
    }
    this.#wake();
  }
}

function isCaughtUp(waiter: Waiter, committed: Map<number, number>): boolean {
  for (const [partition, ends] of waiter.ends!) {
    const floor = waiter.floors.get(partition);
    const target = floor === undefined ? ends.high : Math.min(ends.high, floor);
    // A group without a commit starts at the first kept offset, and so does one whose commit
    // points below it after retention removed records.
    const position = Math.max(committed.get(partition) ?? -1, ends.low);
    if (position < target) return false;
  }
  return true;
}
