// Helpers for the Redis adapter tests. Production code must not import this module.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

/** Redis that the tests use: `SWB_REDIS_URL`, or the one of `deploy/local/redis.sh up`. */
export const REDIS_URL = process.env.SWB_REDIS_URL ?? 'redis://127.0.0.1:6390';

export const SKIP_MESSAGE =
  `Redis at ${REDIS_URL} did not answer PING, so the Redis adapter tests are skipped. ` +
  'Start it with deploy/local/redis.sh up, or set SWB_REDIS_URL.';

/** Sends one PING without retries and returns true when Redis replies within a second. */
export async function isRedisReachable(url = REDIS_URL): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // connect() rejects with the failure. Without this listener ioredis also prints it as unhandled.
  client.on('error', () => undefined);
  let answered = false;
  try {
    await client.connect();
    answered = (await client.ping()) === 'PONG';
  } catch {
    answered = false;
  } finally {
    client.disconnect();
  }
  // CI starts the engines and sets SWB_REQUIRE_ENGINES, so a missing Redis fails there.
  if (!answered && process.env.SWB_REQUIRE_ENGINES === '1') {
    throw new Error(`Redis at ${url} did not answer PING and SWB_REQUIRE_ENGINES=1`);
  }
  return answered;
}

/** Returns a random key prefix, so that test runs against a shared Redis never collide. */
export function buildTestPrefix(): string {
  return `swb-test-${randomUUID().slice(0, 8)}:`;
}

/** Opens a plain connection for inspecting and changing keys behind an adapter's back. */
export async function openAdmin(): Promise<Redis> {
  const admin = new Redis(REDIS_URL, { lazyConnect: true });
  await admin.connect();
  return admin;
}

/** Returns every key under `prefix`. Test prefixes contain no glob characters. */
export async function listKeys(admin: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/**
 * Deletes every key under `prefix`, which has the effect of FLUSHALL on one adapter's keys.
 *
 * A real FLUSHALL would also wipe the keys of test files that run in parallel against the
 * same Redis.
 */
export async function deleteKeys(admin: Redis, prefix: string): Promise<number> {
  const keys = await listKeys(admin, prefix);
  if (keys.length === 0) return 0;
  return admin.del(...keys);
}
