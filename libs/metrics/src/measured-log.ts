import type { DependencyProbe, DurableLog, LogConsumer, LogRecord } from '@switchboard/core';
import type { HistogramSeries, HotHistogram } from './hot-histogram.ts';

export interface MeasuredLogOptions {
  /** Receives the duration of every append by result; left out in the embedded profile. */
  histogram?: HotHistogram;
  /** Receives the outcome of every append, so readiness needs no extra round trip. */
  probe?: DependencyProbe;
}

/**
 * Wraps a durable log to time its appends and report their outcomes.
 *
 * The time runs from the call to the acknowledgement, so it includes the wait for the group
 * commit that carries the append, which is what an ack waits for.
 */
export class MeasuredLog implements DurableLog {
  readonly #log: DurableLog;
  readonly #ok: HistogramSeries | undefined;
  readonly #failed: HistogramSeries | undefined;
  readonly #probe: DependencyProbe | undefined;

  constructor(log: DurableLog, options: MeasuredLogOptions) {
    this.#log = log;
    this.#ok = options.histogram?.series('ok');
    this.#failed = options.histogram?.series('error');
    this.#probe = options.probe;
  }

  async append(records: LogRecord[]): Promise<void> {
    const started = performance.now();
    try {
      await this.#log.append(records);
    } catch (err) {
      this.#failed?.observe((performance.now() - started) / 1000);
      this.#probe?.noteFailure(err);
      throw err;
    }
    this.#ok?.observe((performance.now() - started) / 1000);
    this.#probe?.noteSuccess();
  }

  consume(group: string, handler: (records: LogRecord[]) => Promise<void>): Promise<LogConsumer> {
    return this.#log.consume(group, handler);
  }

  awaitConsumed(group: string, timeoutMs: number): Promise<boolean> {
    return this.#log.awaitConsumed(group, timeoutMs);
  }

  /** Closes the wrapped log, which waits for the appends in flight. */
  close(): Promise<void> {
    return this.#log.close();
  }
}
