import { readHost, readInt, readPort, type Env } from '@switchboard/core';
import { readClusterConfig, type ClusterConfig } from '@switchboard/cluster';

/** Settings of the persister process, read from `SWB_` variables. */
export interface PersisterConfig {
  cluster: ClusterConfig;
  /** SWB_HOST, default 127.0.0.1: where the operations server listens. */
  host: string;
  /** SWB_METRICS_PORT, default 9464: /metrics, /healthz and /readyz. */
  metricsPort: number;
  /** SWB_LAG_INTERVAL_MS, default 5000: how often the consumer lag is sampled. */
  lagIntervalMs: number;
}

/** Reads and checks every setting of the persister. Throws ConfigError naming the bad variable. */
export function readPersisterConfig(env: Env): PersisterConfig {
  return {
    cluster: readClusterConfig(env),
    host: readHost(env, 'SWB_HOST', '127.0.0.1'),
    metricsPort: readPort(env, 'SWB_METRICS_PORT', 9464),
    lagIntervalMs: readInt(env, 'SWB_LAG_INTERVAL_MS', 5000, { min: 100, max: 300_000 }),
  };
}
