import type { DurableLog, LogConsumer, Logger, Store } from '@switchboard/core';
import type { SwitchboardMetrics } from '@switchboard/metrics';

/** Consumer group name of the persister; sync and fetch wait on its progress. */
export const PERSISTER_GROUP = 'persister';

export interface PersisterOptions {
  log: DurableLog;
  store: Store;
  logger: Logger;
  group?: string;
  /** Counts the records written in `switchboard_persister_applied_records_total`. */
  metrics?: SwitchboardMetrics;
}

/**
 * Copies the durable log into the store.
 *
 * The log commits a batch only after `applyRecords` resolves, and the store keys records by
 * (conversation, sequence number), so a crash between the two replays the batch harmlessly.
 */
export class Persister {
  readonly #options: PersisterOptions;
  readonly #logger: Logger;
  #consumer: LogConsumer | null = null;
  #applied = 0;

  constructor(options: PersisterOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ group: options.group ?? PERSISTER_GROUP });
  }

  /** Records written since start, replays included. */
  get appliedRecords(): number {
    return this.#applied;
  }

  /** Whether the consumer runs: between `start` and `stop`. */
  get running(): boolean {
    return this.#consumer !== null;
  }

  async start(): Promise<void> {
    const { log, store, metrics } = this.#options;
    this.#consumer = await log.consume(this.#options.group ?? PERSISTER_GROUP, async (records) => {
      await store.applyRecords(records);
      this.#applied += records.length;
      metrics?.persisterApplied.inc(records.length);
    });
    this.#logger.info('persister started');
  }

  /** Stops after the batch in progress is written and committed. */
  async stop(): Promise<void> {
    await this.#consumer?.stop();
    this.#consumer = null;
    this.#logger.info({ applied: this.#applied }, 'persister stopped');
  }
}
