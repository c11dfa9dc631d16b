import type { DependencyProbe, Logger } from '@switchboard/core';
import type { Gauge } from 'prom-client';

export interface LagMonitorOptions {
  /** Returns the records the consumer group has not committed, such as `KafkaLog.lag(group)`. */
  read: () => Promise<number> | number;
  gauge: Gauge;
  /** Milliseconds between samples. */
  intervalMs: number;
  /** Receives the outcome of every sample, so that readiness can use it instead of a check. */
  probe?: DependencyProbe;
  logger: Logger;
}

/**
 * Samples a consumer group's lag into a gauge every `intervalMs`.
 *
 * A failed sample keeps the last value and is reported to the probe, which logs the first
 * failure of a run and the recovery, so a Kafka outage does not log once per sample.
 */
export class LagMonitor {
  readonly #options: LagMonitorOptions;
  #timer: NodeJS.Timeout | undefined;
  #sampling: Promise<void> | null = null;
  #samples = 0;

  constructor(options: LagMonitorOptions) {
    this.#options = options;
  }

  /** Number of samples that succeeded. */
  get samples(): number {
    return this.#samples;
  }

  /** Takes the first sample, then one every interval. */
  async start(): Promise<void> {
    await this.#sample();
    this.#timer = setInterval(() => void this.#sample(), this.#options.intervalMs);
    this.#timer.unref();
  }

  /** Stops sampling and waits for a sample in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sampling;
  }

  #sample(): Promise<void> {
    // Skips a tick while the previous sample is still waiting for Kafka.
    this.#sampling ??= this.#read().finally(() => {
      this.#sampling = null;
    });
    return this.#sampling;
  }

  async #read(): Promise<void> {
    const { read, gauge, probe, logger } = this.#options;
    try {
      gauge.set(await read());
      this.#samples++;
      probe?.noteSuccess();
    } catch (err) {
      if (probe) probe.noteFailure(err);
      else logger.warn({ err }, 'lag sample failed');
    }
  }
}
