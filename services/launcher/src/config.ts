import {
  readHost,
  readInt,
  readLargeGroupThreshold,
  readPort,
  readString,
  type Env,
} from '@switchboard/core';
import {
  readConnectionPolicy,
  readRealtimePolicy,
  type ConnectionPolicy,
  type RealtimePolicy,
} from '@switchboard/chat-node';

/** Settings of the embedded profile (`make start`), read from `SWB_` variables. */
export interface EmbeddedConfig {
  /** SWB_DATA_DIR, default .data/embedded: database, log and token secret. */
  dataDir: string;
  /** SWB_HOST, default 127.0.0.1: the address every listener binds to. */
  host: string;
  /** SWB_HTTP_PORT, default 8080: API, router, web client, /healthz, /readyz and /metrics. */
  httpPort: number;
  /** SWB_CHAT_NODES, default 2: chat nodes in the process. */
  chatNodes: number;
  /** SWB_CHAT_PORT_BASE, default 9001: port of the first chat node, and the others follow. */
  chatPortBase: number;
  /** SWB_TOKEN_SECRET: HMAC secret of access tokens, generated into the data directory when unset. */
  tokenSecret: string | null;
  /** SWB_ACCESS_TTL_SECONDS, default 900. */
  accessTtlSeconds: number;
  /** SWB_REFRESH_TTL_SECONDS, default 30 days. */
  refreshTtlSeconds: number;
  /** SWB_LAG_INTERVAL_MS, default 5000: how often the persister's lag is sampled. */
  lagIntervalMs: number;
  policy: ConnectionPolicy;
  /** Notices, presence and typing settings (SWB_NOTICE_INTERVAL_MS, SWB_PRESENCE_TTL_MS and others). */
  realtime: RealtimePolicy;
  /** SWB_LARGE_GROUP_THRESHOLD, default 1000: member count above which a group is large. */
  largeGroupThreshold: number;
}

/** Reads and checks every setting of the embedded profile. Throws ConfigError naming the bad variable. */
export function readEmbeddedConfig(env: Env): EmbeddedConfig {
  const tokenSecret = readString(env, 'SWB_TOKEN_SECRET', '', /^.{32,}$/s, 'a secret of at least 32 bytes');
  return {
    dataDir: readString(env, 'SWB_DATA_DIR', '.data/embedded'),
    host: readHost(env, 'SWB_HOST', '127.0.0.1'),
    httpPort: readPort(env, 'SWB_HTTP_PORT', 8080),
    chatNodes: readInt(env, 'SWB_CHAT_NODES', 2, { min: 1, max: 16 }),
    chatPortBase: readPort(env, 'SWB_CHAT_PORT_BASE', 9001),
    tokenSecret: tokenSecret === '' ? null : tokenSecret,
    accessTtlSeconds: readInt(env, 'SWB_ACCESS_TTL_SECONDS', 900, { min: 10 }),
    refreshTtlSeconds: readInt(env, 'SWB_REFRESH_TTL_SECONDS', 30 * 24 * 3600, { min: 60 }),
    lagIntervalMs: readInt(env, 'SWB_LAG_INTERVAL_MS', 5000, { min: 100, max: 300_000 }),
    policy: readConnectionPolicy(env),
    realtime: readRealtimePolicy(env),
    largeGroupThreshold: readLargeGroupThreshold(env),
  };
}
