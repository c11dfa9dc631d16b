import { ConfigError, readHost, readInt, readOptionalPort, readPort, type Env } from '@switchboard/core';
import { readClusterConfig, readTokenSecret, type ClusterConfig } from '@switchboard/cluster';

/** Settings of the router process, read from `SWB_` variables. */
export interface RouterConfig {
  cluster: ClusterConfig;
  /** SWB_TOKEN_SECRET, required: verifies the access tokens of GET /v1/route. */
  tokenSecret: string;
  /** SWB_HOST, default 127.0.0.1. */
  host: string;
  /** SWB_ROUTER_PORT, default 8081: /v1/route, /v1/ring, /healthz, /readyz and /metrics. */
  port: number;
  /** SWB_HEARTBEAT_INTERVAL_MS, default 1000: how often the membership is re-read. */
  refreshMs: number;
  /** SWB_METRICS_PORT: serve /metrics, /healthz and /readyz on this port instead. Unset by default. */
  metricsPort: number | null;
}

/** Reads and checks every setting of the router. Throws ConfigError naming the bad variable. */
export function readRouterConfig(env: Env): RouterConfig {
  const config: RouterConfig = {
    cluster: readClusterConfig(env),
    tokenSecret: readTokenSecret(env),
    host: readHost(env, 'SWB_HOST', '127.0.0.1'),
    port: readPort(env, 'SWB_ROUTER_PORT', 8081),
    refreshMs: readInt(env, 'SWB_HEARTBEAT_INTERVAL_MS', 1000, { min: 50 }),
    metricsPort: readOptionalPort(env, 'SWB_METRICS_PORT'),
  };
  if (config.metricsPort !== null && config.metricsPort !== 0 && config.metricsPort === config.port) {
    throw new ConfigError('SWB_METRICS_PORT', `must differ from SWB_ROUTER_PORT (${config.port})`);
  }
  return config;
}
