import { DependencyProbe, Readiness, type Logger } from '@switchboard/core';
import type { Gauge } from 'prom-client';
import { LagMonitor } from './lag-monitor.ts';
import type { SwitchboardMetrics } from './metrics.ts';
import { startOperationsServer } from './operations-server.ts';

export interface ConsumerOperationsOptions {
  /** Whether the log consumer runs. The service is not ready while it does not. */
  running: () => boolean;
  /** Returns the records the consumer group has not committed, such as `KafkaLog.lag(group)`. */
  readLag: () => Promise<number>;
  /** Gauge that receives every lag sample. */
  lagGauge: Gauge;
  /** Probe of the store the consumer writes or reads, which also receives its request outcomes. */
  storeProbe: DependencyProbe;
  metrics: SwitchboardMetrics;
  host: string;
  /** Port of /metrics, /healthz and /readyz; 0 picks a free one. */
  port: number;
  /** Milliseconds between lag samples. */
  lagIntervalMs: number;
  logger: Logger;
}

/** The lag sampling and the operations server of a log consumer, stopped together. */
export interface ConsumerOperations {
  /** Origin of /metrics, /healthz and /readyz. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts sampling a log consumer's lag into its gauge and serves /metrics, /healthz and /readyz.
 * The service is ready while its consumer runs and the log and the store respond. Every lag
 * sample is a round trip to the log, so the log probe rarely needs one of its own.
 */
export async function startConsumerOperations(
  options: ConsumerOperationsOptions,
): Promise<ConsumerOperations> {
  const { metrics, logger } = options;
  const logProbe = new DependencyProbe({ name: 'log', check: options.readLag, logger });
  const lag = new LagMonitor({
    read: options.readLag,
    gauge: options.lagGauge,
    intervalMs: options.lagIntervalMs,
    probe: logProbe,
    logger,
  });
  await lag.start();
  const server = await startOperationsServer({
    host: options.host,
    port: options.port,
    metrics,
    readiness: new Readiness({
      probes: [logProbe, options.storeProbe],
      conditions: [{ name: 'consumer', failure: () => (options.running() ? null : 'stopped') }],
    }),
    logger,
  });
  return {
    url: server.url,
    async close() {
      await server.close();
      await lag.stop();
    },
  };
}
