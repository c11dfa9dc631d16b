import { readFileSync } from 'node:fs';
import { ConfigError, readHost, readInt, readPort, readString, type Env } from '@switchboard/core';
import { readClusterConfig, type ClusterConfig } from '@switchboard/cluster';
import {
  DEFAULT_WEB_PUSH_HOSTS,
  type ApnsProviderConfig,
  type FcmProviderConfig,
  type FcmServiceAccount,
  type PushProvidersConfig,
  type WebPushProviderConfig,
} from '@switchboard/push';
import { PUSH_WORKER_GROUP, type PushWorkerSettings } from './push-worker.ts';

/** Settings of the push worker process, read from `SWB_` variables. */
export interface PushWorkerConfig {
  /** Engines of the cluster profile; unused by the embedded profile. */
  cluster: ClusterConfig;
  /** SWB_HOST, default 127.0.0.1: where the operations server listens. */
  host: string;
  /** SWB_METRICS_PORT, default 9465: /metrics, /healthz and /readyz. */
  metricsPort: number;
  /** SWB_LAG_INTERVAL_MS, default 5000: how often the push-jobs lag is sampled. */
  lagIntervalMs: number;
  /** SWB_PUSH_GROUP, default `push-worker`: consumer group on the push-jobs log. */
  group: string;
  worker: PushWorkerSettings;
  /** Providers to create; a kind whose variables are all unset is absent. */
  providers: PushProvidersConfig;
}

/** Variables of each provider, in the order their errors are checked. */
export const PROVIDER_VARIABLES = {
  webpush: ['SWB_PUSH_VAPID_PUBLIC_KEY', 'SWB_PUSH_VAPID_PRIVATE_KEY', 'SWB_PUSH_VAPID_SUBJECT'],
  fcm: ['SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE'],
  apns: ['SWB_PUSH_APNS_KEY_FILE', 'SWB_PUSH_APNS_KEY_ID', 'SWB_PUSH_APNS_TEAM_ID', 'SWB_PUSH_APNS_TOPIC'],
} as const;

const GROUP_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const APPLE_ID = /^[A-Z0-9]{10}$/;
const BUNDLE_ID = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

/** Reads and checks every setting of the push worker. Throws ConfigError naming the bad variable. */
export function readPushWorkerConfig(env: Env): PushWorkerConfig {
  return {
    cluster: readClusterConfig(env),
    host: readHost(env, 'SWB_HOST', '127.0.0.1'),
    metricsPort: readPort(env, 'SWB_METRICS_PORT', 9465),
    lagIntervalMs: readInt(env, 'SWB_LAG_INTERVAL_MS', 5000, { min: 100, max: 300_000 }),
    group: readString(
      env,
      'SWB_PUSH_GROUP',
      PUSH_WORKER_GROUP,
      GROUP_ID,
      'a consumer group id of 1 to 128 letters, digits, "_", "." or "-"',
    ),
    worker: readPushWorkerSettings(env),
    providers: readProvidersConfig(env),
  };
}

/**
 * Reads the delivery settings (collapse interval, retries, deduplication, concurrency), which
 * the embedded profile's launcher reads too. Throws ConfigError naming the bad variable.
 */
export function readPushWorkerSettings(env: Env): PushWorkerSettings {
  const backoffBaseMs = readInt(env, 'SWB_PUSH_BACKOFF_BASE_MS', 500, { min: 1, max: 600_000 });
  const backoffMaxMs = readInt(env, 'SWB_PUSH_BACKOFF_MAX_MS', 30_000, { min: 1, max: 3_600_000 });
  if (backoffMaxMs < backoffBaseMs) {
    throw new ConfigError(
      'SWB_PUSH_BACKOFF_MAX_MS',
      `must be >= SWB_PUSH_BACKOFF_BASE_MS (${backoffBaseMs}), got ${backoffMaxMs}`,
    );
  }
  return {
    collapseIntervalMs: readInt(env, 'SWB_PUSH_COLLAPSE_INTERVAL_MS', 2000, { min: 0, max: 60_000 }),
    maxAttempts: readInt(env, 'SWB_PUSH_MAX_ATTEMPTS', 5, { min: 1, max: 20 }),
    backoffBaseMs,
    backoffMaxMs,
    dedupWindowMs: readInt(env, 'SWB_PUSH_DEDUP_WINDOW_MS', 600_000, { min: 0, max: 86_400_000 }),
    dedupMaxEntries: readInt(env, 'SWB_PUSH_DEDUP_MAX_ENTRIES', 100_000, { min: 1, max: 10_000_000 }),
    maxConcurrency: readInt(env, 'SWB_PUSH_CONCURRENCY', 64, { min: 1, max: 4096 }),
  };
}

/**
 * Reads the provider credentials. A provider is configured when any of its variables is set,
 * and then every required one must be set and valid. Files are read here, so a missing or
 * unreadable file stops the service at start.
 */
export function readProvidersConfig(env: Env): PushProvidersConfig {
  const timeoutMs = readInt(env, 'SWB_PUSH_SEND_TIMEOUT_MS', 10_000, { min: 100, max: 120_000 });
  const config: PushProvidersConfig = {};
  const webpush = readWebPush(env, timeoutMs);
  if (webpush !== undefined) config.webpush = webpush;
  const fcm = readFcm(env, timeoutMs);
  if (fcm !== undefined) config.fcm = fcm;
  const apns = readApns(env, timeoutMs);
  if (apns !== undefined) config.apns = apns;
  return config;
}

function readWebPush(env: Env, timeoutMs: number): WebPushProviderConfig | undefined {
  // SWB_PUSH_ALLOWED_HOSTS alone does not enable Web Push: the API reads it too.
  if (!requireAllOrNone(env, PROVIDER_VARIABLES.webpush, [])) return undefined;
  const publicKey = env.SWB_PUSH_VAPID_PUBLIC_KEY!;
  const privateKey = env.SWB_PUSH_VAPID_PRIVATE_KEY!;
  const subject = env.SWB_PUSH_VAPID_SUBJECT!;
  const point = decodeBase64Url(publicKey);
  if (point === null || point.length !== 65 || point[0] !== 0x04) {
    throw new ConfigError(
      'SWB_PUSH_VAPID_PUBLIC_KEY',
      'expected an uncompressed P-256 public key: 65 bytes in base64url, as `npx web-push generate-vapid-keys` prints',
    );
  }
  const scalar = decodeBase64Url(privateKey);
  if (scalar === null || scalar.length !== 32) {
    throw new ConfigError(
      'SWB_PUSH_VAPID_PRIVATE_KEY',
      'expected a P-256 private key: 32 bytes in base64url',
    );
  }
  if (!/^(mailto:\S+@\S+|https:\/\/\S+)$/.test(subject)) {
    throw new ConfigError('SWB_PUSH_VAPID_SUBJECT', `expected a mailto: or https: URL, got "${subject}"`);
  }
  const hosts = env.SWB_PUSH_ALLOWED_HOSTS;
  const allowedHosts =
    hosts === undefined || hosts.trim() === ''
      ? DEFAULT_WEB_PUSH_HOSTS
      : hosts
          .split(',')
          .map((host) => host.trim())
          .filter((host) => host !== '');
  for (const host of allowedHosts) {
    if (!/^(\*?\.)?[A-Za-z0-9.-]+$/.test(host)) {
      throw new ConfigError('SWB_PUSH_ALLOWED_HOSTS', `expected host names or .suffixes, got "${host}"`);
    }
  }
  return { publicKey, privateKey, subject, allowedHosts, timeoutMs };
}

function readFcm(env: Env, timeoutMs: number): FcmProviderConfig | undefined {
  if (!requireAllOrNone(env, PROVIDER_VARIABLES.fcm, ['SWB_PUSH_FCM_API_ORIGIN'])) return undefined;
  const variable = 'SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE';
  const text = readTextFile(env, variable);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(variable, `${env[variable]} is not JSON: ${(err as Error).message}`);
  }
  const account = parsed as Partial<FcmServiceAccount> | null;
  for (const field of ['project_id', 'client_email', 'private_key'] as const) {
    if (typeof account?.[field] !== 'string' || account[field] === '') {
      throw new ConfigError(
        variable,
        `${env[variable]} has no "${field}"; download the service account key again`,
      );
    }
  }
  if (!account!.private_key!.includes('PRIVATE KEY')) {
    throw new ConfigError(variable, `${env[variable]} has a "private_key" that is not a PEM private key`);
  }
  const origin = readOrigin(env, 'SWB_PUSH_FCM_API_ORIGIN', /^https?:$/);
  return {
    serviceAccount: account as FcmServiceAccount,
    timeoutMs,
    ...(origin === undefined ? {} : { origin }),
  };
}

function readApns(env: Env, timeoutMs: number): ApnsProviderConfig | undefined {
  if (!requireAllOrNone(env, PROVIDER_VARIABLES.apns, ['SWB_PUSH_APNS_ORIGIN', 'SWB_PUSH_APNS_CA_FILE'])) {
    return undefined;
  }
  const privateKey = readTextFile(env, 'SWB_PUSH_APNS_KEY_FILE');
  if (!privateKey.includes('BEGIN PRIVATE KEY')) {
    throw new ConfigError(
      'SWB_PUSH_APNS_KEY_FILE',
      `${env.SWB_PUSH_APNS_KEY_FILE} is not a PKCS#8 PEM key (the .p8 file from Apple)`,
    );
  }
  const keyId = readString(
    env,
    'SWB_PUSH_APNS_KEY_ID',
    '',
    APPLE_ID,
    'a 10-character key ID such as ABC123DEFG',
  );
  const teamId = readString(
    env,
    'SWB_PUSH_APNS_TEAM_ID',
    '',
    APPLE_ID,
    'a 10-character team ID such as DEF123GHIJ',
  );
  const topic = readString(
    env,
    'SWB_PUSH_APNS_TOPIC',
    '',
    BUNDLE_ID,
    'the app bundle ID such as com.example.chat',
  );
  const origin = readOrigin(env, 'SWB_PUSH_APNS_ORIGIN', /^https:$/);
  const caFile = env.SWB_PUSH_APNS_CA_FILE;
  const ca = caFile === undefined || caFile === '' ? undefined : readTextFile(env, 'SWB_PUSH_APNS_CA_FILE');
  if (ca !== undefined && !ca.includes('BEGIN CERTIFICATE')) {
    throw new ConfigError('SWB_PUSH_APNS_CA_FILE', `${caFile} is not a PEM certificate`);
  }
  return {
    privateKey,
    keyId,
    teamId,
    topic,
    timeoutMs,
    ...(origin === undefined ? {} : { origin }),
    ...(ca === undefined ? {} : { ca }),
  };
}

/**
 * Returns whether a provider is configured: false when `required` and `optional` are all
 * unset, true when every `required` variable is set. Throws ConfigError naming the first
 * missing required variable otherwise.
 */
function requireAllOrNone(env: Env, required: readonly string[], optional: readonly string[]): boolean {
  const isSet = (name: string) => env[name] !== undefined && env[name] !== '';
  const present = [...required, ...optional].filter(isSet);
  if (present.length === 0) return false;
  const missing = required.find((name) => !isSet(name));
  if (missing !== undefined) {
    throw new ConfigError(
      missing,
      `is missing while ${present.join(', ')} is set; set all of ${required.join(', ')} or none of them`,
    );
  }
  return true;
}

function readTextFile(env: Env, variable: string): string {
  const path = env[variable]!;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      variable,
      `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}

function readOrigin(env: Env, variable: string, protocol: RegExp): string | undefined {
  const raw = env[variable];
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(variable, `expected an origin such as https://host:port, got "${raw}"`);
  }
  if (!protocol.test(url.protocol) || url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new ConfigError(variable, `expected an origin such as https://host:port, got "${raw}"`);
  }
  return url.origin;
}

function decodeBase64Url(value: string): Buffer | null {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(value)) return null;
  return Buffer.from(value.replace(/=+$/, ''), 'base64url');
}
