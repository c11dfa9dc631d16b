import { ConfigError, readHost, readInt, readOptionalPort, readPort, type Env } from '@switchboard/core';
import { readClusterConfig, readTokenSecret, type ClusterConfig } from '@switchboard/cluster';
import { DEFAULT_WEB_PUSH_HOSTS } from '@switchboard/push';
import type { PushRoutesConfig } from './push-routes.ts';

/** Settings of the API process, read from `SWB_` variables. */
export interface ApiConfig {
  cluster: ClusterConfig;
  /** SWB_TOKEN_SECRET, required: signs access tokens. Every process must share it. */
  tokenSecret: string;
  /** SWB_ACCESS_TTL_SECONDS, default 900. */
  accessTtlSeconds: number;
  /** SWB_REFRESH_TTL_SECONDS, default 30 days. */
  refreshTtlSeconds: number;
  /** SWB_HOST, default 127.0.0.1. */
  host: string;
  /** SWB_API_PORT, default 8080: the API, /docs, /healthz, /readyz and /metrics. */
  port: number;
  /** SWB_PERSIST_WAIT_MS, default 2000: how long history reads wait for the persister. */
  persistWaitMs: number;
  /** SWB_METRICS_PORT: serve /metrics, /healthz and /readyz on this port instead. Unset by default. */
  metricsPort: number | null;
  /** Settings of the /v1/push routes; see readPushRoutesConfig. */
  push: PushRoutesConfig;
}

/** Reads and checks every setting of the API. Throws ConfigError naming the bad variable. */
export function readApiConfig(env: Env): ApiConfig {
  const config: ApiConfig = {
    cluster: readClusterConfig(env),
    tokenSecret: readTokenSecret(env),
    accessTtlSeconds: readInt(env, 'SWB_ACCESS_TTL_SECONDS', 900, { min: 10 }),
    refreshTtlSeconds: readInt(env, 'SWB_REFRESH_TTL_SECONDS', 30 * 24 * 3600, { min: 60 }),
    host: readHost(env, 'SWB_HOST', '127.0.0.1'),
    port: readPort(env, 'SWB_API_PORT', 8080),
    persistWaitMs: readInt(env, 'SWB_PERSIST_WAIT_MS', 2000, { min: 0 }),
    metricsPort: readOptionalPort(env, 'SWB_METRICS_PORT'),
    push: readPushRoutesConfig(env),
  };
  if (config.metricsPort !== null && config.metricsPort !== 0 && config.metricsPort === config.port) {
    throw new ConfigError('SWB_METRICS_PORT', `must differ from SWB_API_PORT (${config.port})`);
  }
  return config;
}

const VAPID_PUBLIC_KEY = /^[A-Za-z0-9_-]{87}$/;
const PUSH_HOST = /^(?:\*?\.)?[A-Za-z0-9.-]+$/;

/**
 * Reads the push settings that the API serves to clients and checks registrations against.
 *
 * SWB_PUSH_VAPID_PUBLIC_KEY (65 bytes in base64url, 87 characters) turns Web Push on. FCM and
 * APNs count as on when SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE or SWB_PUSH_APNS_KEY_FILE is set; the
 * API reads neither file, because only the push worker sends. SWB_PUSH_ALLOWED_HOSTS is a
 * comma-separated list of hosts that Web Push endpoints may point at, `.example.com` matching
 * subdomains; it defaults to the public push services.
 */
export function readPushRoutesConfig(env: Env): PushRoutesConfig {
  const vapid = env.SWB_PUSH_VAPID_PUBLIC_KEY ?? '';
  if (vapid !== '' && !VAPID_PUBLIC_KEY.test(vapid)) {
    throw new ConfigError(
      'SWB_PUSH_VAPID_PUBLIC_KEY',
      'expected an uncompressed P-256 public key: 65 bytes in base64url without padding (87 characters)',
    );
  }
  const hostsText = env.SWB_PUSH_ALLOWED_HOSTS ?? '';
  let allowedHosts: readonly string[] = DEFAULT_WEB_PUSH_HOSTS;
  if (hostsText.trim() !== '') {
    allowedHosts = hostsText
      .split(',')
      .map((host) => host.trim())
      .filter((host) => host !== '');
    const bad = allowedHosts.find((host) => !PUSH_HOST.test(host));
    if (bad !== undefined) {
      throw new ConfigError('SWB_PUSH_ALLOWED_HOSTS', `expected host names or .suffixes, got "${bad}"`);
    }
  }
  return {
    vapidPublicKey: vapid === '' ? null : vapid,
    fcm: (env.SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE ?? '') !== '',
    apns: (env.SWB_PUSH_APNS_KEY_FILE ?? '') !== '',
    allowedHosts,
  };
}
