import { hostname } from 'node:os';
import {
  ConfigError,
  readHost,
  readInt,
  readOptionalPort,
  readPort,
  readString,
  type Env,
} from '@switchboard/core';
import { readClusterConfig, readTokenSecret, type ClusterConfig } from '@switchboard/cluster';
import { readConnectionPolicy, type ConnectionPolicy } from './config.ts';

/**
 * Settings of a chat node process in the cluster profile. They live apart from config.ts,
 * which the embedded launcher imports, so that it does not load the cluster adapters.
 */
export interface ChatNodeConfig {
  cluster: ClusterConfig;
  /** SWB_TOKEN_SECRET, required: the HMAC secret shared with the API and the router. */
  tokenSecret: string;
  policy: ConnectionPolicy;
  /** SWB_HOST, default 127.0.0.1. */
  host: string;
  /** SWB_CHAT_PORT, default 9001: WebSocket, /healthz, /readyz and /metrics. */
  port: number;
  /** SWB_NODE_ID, default `<hostname>-<port>`. Unique in the cluster and stable across restarts. */
  nodeId: string;
  /** SWB_PUBLIC_URL: the WebSocket URL the router hands out, ws://host:port/ws when unset. */
  publicUrl: string | null;
  /** SWB_HEARTBEAT_INTERVAL_MS, default 1000. */
  heartbeatIntervalMs: number;
  /** SWB_HEARTBEAT_TTL_MS, default 3000, above the interval. */
  heartbeatTtlMs: number;
  /** SWB_METRICS_PORT: serve /metrics, /healthz and /readyz on this port instead. Unset by default. */
  metricsPort: number | null;
}

/** Reads and checks every setting of a chat node. Throws ConfigError naming the bad variable. */
export function readChatNodeConfig(env: Env): ChatNodeConfig {
  const port = readPort(env, 'SWB_CHAT_PORT', 9001);
  const heartbeatIntervalMs = readInt(env, 'SWB_HEARTBEAT_INTERVAL_MS', 1000, { min: 50 });
  const heartbeatTtlMs = readInt(env, 'SWB_HEARTBEAT_TTL_MS', 3000, { min: 100 });
  // A TTL no longer than the interval would expire the node between two healthy heartbeats.
  if (heartbeatTtlMs <= heartbeatIntervalMs) {
    throw new ConfigError(
      'SWB_HEARTBEAT_TTL_MS',
      `must be above SWB_HEARTBEAT_INTERVAL_MS (${heartbeatIntervalMs}), got ${heartbeatTtlMs}`,
    );
  }
  const publicUrl = readString(env, 'SWB_PUBLIC_URL', '', /^wss?:\/\/\S+$/, 'a ws:// or wss:// URL');
  const metricsPort = readOptionalPort(env, 'SWB_METRICS_PORT');
  if (metricsPort !== null && metricsPort !== 0 && metricsPort === port) {
    throw new ConfigError('SWB_METRICS_PORT', `must differ from SWB_CHAT_PORT (${port})`);
  }
  return {
    cluster: readClusterConfig(env),
    tokenSecret: readTokenSecret(env),
    policy: readConnectionPolicy(env),
    host: readHost(env, 'SWB_HOST', '127.0.0.1'),
    port,
    nodeId: readString(
      env,
      'SWB_NODE_ID',
      `${hostname()}-${port}`,
      /^[A-Za-z0-9_.-]{1,64}$/,
      'a node id of 1 to 64 letters, digits, ".", "_" or "-"',
    ),
    publicUrl: publicUrl === '' ? null : publicUrl,
    heartbeatIntervalMs,
    heartbeatTtlMs,
    metricsPort,
  };
}
