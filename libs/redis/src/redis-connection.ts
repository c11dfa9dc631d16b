import { Redis, type RedisOptions as IORedisOptions } from 'ioredis';
import { SwitchboardError, UnavailableError, type Logger } from '@switchboard/core';

/** Options shared by the Redis adapters. */
export interface RedisConnectionOptions {
  /** Redis URL, for example `redis://127.0.0.1:6390/0`. */
  url: string;
  /** Prefix of every key and channel that the adapter uses (default `swb:`). */
  keyPrefix?: string;
  /** Name that `CLIENT LIST` shows. The bus's subscriber connection gets `-sub` appended. */
  connectionName?: string;
  /**
   * Further ioredis options, applied over the adapter's defaults. `maxRetriesPerRequest`
   * bounds how long a command waits during an outage (ioredis 5 default: 20 reconnect attempts).
   */
  redisOptions?: IORedisOptions;
  logger?: Logger;
}

export const DEFAULT_KEY_PREFIX = 'swb:';

/** Reply of the adapters' Lua scripts: a status word, then its values. */
export type ScriptReply = [string, ...Array<string | number>];

/** Runs a Lua script defined with `defineScript`, by EVALSHA with a fallback to EVAL. */
export type Script = (keys: string[], args: string[]) => Promise<ScriptReply>;

/**
 * Opens one ioredis connection and waits until it is ready.
 *
 * Rejects with an UnavailableError, and leaves no connection retrying in the background,
 * when the first attempt fails. Later disconnects are retried by ioredis, and a warning is
 * logged once per outage instead of once per attempt.
 */
export async function connectRedis(
  options: RedisConnectionOptions,
  connectionName: string,
  logger: Logger,
): Promise<Redis> {
  const target = describeRedisUrl(options.url);
  // lazyConnect comes last because connect() below fails on a connection that is already connecting.
  const client = new Redis(options.url, { connectionName, ...options.redisOptions, lazyConnect: true });
  let outage = false;
  client.on('error', (err: Error) => {
    if (outage) return;
    outage = true;
    logger.warn({ err, redis: target, connection: connectionName }, 'redis connection failed');
  });
  client.on('ready', () => {
    if (!outage) return;
    outage = false;
    logger.info({ redis: target, connection: connectionName }, 'redis connection restored');
  });

  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw new UnavailableError(`could not connect to Redis at ${target}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return client;
}

/** Closes a connection with QUIT, or drops it when QUIT fails (for example during an outage). */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/** Registers a Lua script on `client` and returns a function that runs it. */
export function defineScript(client: Redis, name: string, lua: string): Script {
  client.defineCommand(name, { lua });
  // defineCommand adds the method at run time, so its type is not known to TypeScript.
  const command = (client as unknown as Record<string, (...args: unknown[]) => Promise<ScriptReply>>)[name]!;
  return (keys, args) => command.call(client, keys.length, ...keys, ...args);
}

/**
 * Runs one Redis call and wraps its failure in an UnavailableError that keeps the cause.
 *
 * A SwitchboardError thrown inside `run` passes through unchanged.
 */
export async function callRedis<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof SwitchboardError) throw err;
    throw new UnavailableError(`Redis call to ${what} failed: ${errorMessage(err)}`, { cause: err });
  }
}

/** Returns the URL without its password, for messages and logs. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(malformed Redis URL)';
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
