import type { Redis } from 'ioredis';
import {
  ConfigError,
  ConflictError,
  UnavailableError,
  createLogger,
  type Logger,
  type Reservation,
  type ReserveRequest,
  type Sequencer,
  type Store,
} from '@switchboard/core';
import { ErrorCode } from '@switchboard/protocol';
import {
  callRedis,
  closeRedis,
  connectRedis,
  DEFAULT_KEY_PREFIX,
  defineScript,
  type RedisConnectionOptions,
  type Script,
  type ScriptReply,
} from './redis-connection.ts';

export interface RedisSequencerOptions extends RedisConnectionOptions {
  /** The store whose highest sequence numbers and stream positions re-seed a lost counter. */
  store: Store;
  /** How long a (sender, client id) reservation is returned to retries, in milliseconds (default 24 h). */
  reservationTtlMs?: number;
  /**
   * Amount added to the store's highest value when a lost counter is re-seeded (default 0).
   *
   * Pass at least the number of records that can be in the durable log but not yet in the
   * store (the persister's in-flight window), so numbers of that unpersisted tail are not
   * handed out again.
   */
  seedMargin?: number;
}

type Positions = Array<{ user: string; pos: number }>;

/** A Redis counter and how to compute its floor from the store when the key is missing. */
interface Counter {
  key: string;
  readFloor(): Promise<number>;
}

/** A store read for a seed at least this slow is logged. */
const SLOW_SEED_READ_MS = 1000;

/** Rounds of re-seeding per call before it gives up. Each extra round means Redis lost keys again. */
const MAX_SEED_ROUNDS = 3;

// Every script first checks that all of its counters exist and, when some do not, returns
// {'missing', i, ...} with their 1-based indexes among the counter keys, and changes nothing.
// INCR would start a missing counter at 1 and hand out numbers that are already used.

// KEYS[1] is the reservation key, KEYS[2] the conversation counter and KEYS[3..] the
// stream-head counters. ARGV[1] is the conversation id, ARGV[2] the accept time as JSON,
// ARGV[3] the reservation TTL in milliseconds and ARGV[4..] the user of each KEYS[3..].
// The reservation JSON is built by hand because cjson encodes an empty array as {}.
const RESERVE_SCRIPT = `
local earlier = redis.call('GET', KEYS[1])
if earlier then
  return {'existing', earlier}
end
local missing = {'missing'}
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    missing[#missing + 1] = i - 1
  end
end
if #missing > 1 then
  return missing
end
local seq = redis.call('INCR', KEYS[2])
local positions = {}
for i = 3, #KEYS do
  local pos = redis.call('INCR', KEYS[i])
  positions[#positions + 1] =
    '{"user":' .. cjson.encode(ARGV[i + 1]) .. ',"pos":' .. string.format('%d', pos) .. '}'
end
local reservation = '{"conv":' .. cjson.encode(ARGV[1]) .. ',"seq":' .. string.format('%d', seq) ..
  ',"ts":' .. ARGV[2] .. ',"positions":[' .. table.concat(positions, ',') .. ']}'
redis.call('SET', KEYS[1], reservation, 'PX', ARGV[3])
return {'reserved', reservation}
`;

// KEYS are stream-head counters. Returns {'positions', pos, ...} in the order of KEYS.
const NEXT_POSITIONS_SCRIPT = `
local missing = {'missing'}
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    missing[#missing + 1] = i
  end
end
if #missing > 1 then
  return missing
end
local positions = {'positions'}
for i = 1, #KEYS do
  positions[#positions + 1] = redis.call('INCR', KEYS[i])
end
return positions
`;

// KEYS[1] is a stream-head counter. Returns {'head', value}.
const STREAM_HEAD_SCRIPT = `
local head = redis.call('GET', KEYS[1])
if not head then
  return {'missing', 1}
end
return {'head', head}
`;

/**
 * The Sequencer of the cluster profile, over Redis.
 *
 * Keys, after the key prefix (default `swb:`):
 * - `seq:<conv>`: string counter, the last sequence number handed out in the conversation. No TTL.
 * - `head:<user>`: string counter, the last stream position handed out for the user. No TTL.
 * - `rsv:<sender>:<clientId>`: string, the Reservation JSON without `existing`, with a TTL
 *   of `reservationTtlMs`. Ids that match ID_PATTERN contain no `:`, so the key is unambiguous.
 *
 * What it guarantees: a counter never hands out a number at or below the value it had. A
 * counter that is missing (Redis restarted without persistence, FLUSHALL, eviction) is
 * re-seeded to the store's highest value plus `seedMargin` before any number is taken.
 * NOTE: numbers that were handed out but are not yet in the store when Redis loses its
 * counters are handed out again unless `seedMargin` covers them. The caller must pass at
 * least the number of records the durable log can hold beyond what the store has persisted.
 * The default 0 is safe only when nothing is in flight. Gaps are allowed, duplicates are not.
 * NOTE: a lost `rsv:` key also loses idempotency, so a retry of a message sent before the
 * loss gets a new sequence number and the message is stored twice.
 *
 * Redis must keep keys without a TTL (`maxmemory-policy` `noeviction` or a `volatile-*`
 * policy). Re-seeding covers a lost counter, but it costs store reads on every loss. Every
 * call runs as one Lua script over several keys, so it needs a single Redis primary, not
 * Redis Cluster. Unlike the embedded sequencer, `reserve` does not check that the
 * conversation exists: callers resolve it before reserving.
 */
export class RedisSequencer implements Sequencer {
  readonly #redis: Redis;
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #prefix: string;
  readonly #reservationTtlMs: number;
  readonly #seedMargin: number;
  readonly #scripts: { reserve: Script; nextPositions: Script; streamHead: Script };
  /** Counters re-seeded since the last warning, which goes out at most once a minute. */
  #reseeds = 0;
  #reseedWarnedAt = -Infinity;
  /** Seeds in progress by counter key, so a burst of calls on a missing counter reads the store once. */
  readonly #seeding = new Map<string, Promise<void>>();
  #closed = false;

  /** Connects to Redis and resolves once the connection is ready. */
  static async connect(options: RedisSequencerOptions): Promise<RedisSequencer> {
    const reservationTtlMs = options.reservationTtlMs ?? 24 * 60 * 60 * 1000;
    if (!Number.isSafeInteger(reservationTtlMs) || reservationTtlMs < 1) {
      throw new ConfigError('reservationTtlMs', `must be a positive integer, got ${reservationTtlMs}`);
    }
    const seedMargin = options.seedMargin ?? 0;
    if (!Number.isSafeInteger(seedMargin) || seedMargin < 0) {
      throw new ConfigError('seedMargin', `must be an integer >= 0, got ${seedMargin}`);
    }
    const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    const logger = options.logger ?? createLogger('redis-sequencer');

    const redis = await connectRedis(options, options.connectionName ?? 'swb-sequencer', logger);
    return new RedisSequencer(redis, options.store, logger, prefix, reservationTtlMs, seedMargin);
  }

  private constructor(
    redis: Redis,
    store: Store,
    logger: Logger,
    prefix: string,
    reservationTtlMs: number,
    seedMargin: number,
  ) {
    this.#redis = redis;
    this.#store = store;
    this.#logger = logger;
    this.#prefix = prefix;
    this.#reservationTtlMs = reservationTtlMs;
    this.#seedMargin = seedMargin;
    this.#scripts = {
      reserve: defineScript(redis, 'swbReserve', RESERVE_SCRIPT),
      nextPositions: defineScript(redis, 'swbNextPositions', NEXT_POSITIONS_SCRIPT),
      streamHead: defineScript(redis, 'swbStreamHead', STREAM_HEAD_SCRIPT),
    };
  }

  async reserve(request: ReserveRequest): Promise<Reservation> {
    this.#assertOpen();
    const users = [...new Set(request.targets)];
    const counters = [this.#sequenceCounter(request.conv), ...users.map((user) => this.#headCounter(user))];
    const keys = [
      `${this.#prefix}rsv:${request.sender}:${request.clientId}`,
      ...counters.map((counter) => counter.key),
    ];
    const args = [request.conv, JSON.stringify(request.now), String(this.#reservationTtlMs), ...users];

    const reply = await this.#runSeeded('reserve a sequence number', counters, () =>
      this.#scripts.reserve(keys, args),
    );
    const stored = JSON.parse(String(reply[1])) as Omit<Reservation, 'existing'>;
    const existing = reply[0] === 'existing';
    if (existing && stored.conv !== request.conv) {
      throw new ConflictError(
        ErrorCode.IdConflict,
        `client message id ${request.clientId} was already used in conversation ${stored.conv}`,
      );
    }
    return { conv: stored.conv, seq: stored.seq, ts: stored.ts, positions: stored.positions, existing };
  }

  async nextPositions(users: string[]): Promise<Positions> {
    this.#assertOpen();
    const distinct = [...new Set(users)];
    if (distinct.length === 0) return [];
    const counters = distinct.map((user) => this.#headCounter(user));
    const keys = counters.map((counter) => counter.key);

    const reply = await this.#runSeeded('take stream positions', counters, () =>
      this.#scripts.nextPositions(keys, []),
    );
    return distinct.map((user, index) => ({ user, pos: Number(reply[index + 1]) }));
  }

  async streamHead(user: string): Promise<number> {
    this.#assertOpen();
    const counter = this.#headCounter(user);
    const reply = await this.#runSeeded('read a stream head', [counter], () =>
      this.#scripts.streamHead([counter.key], []),
    );
    return Number(reply[1]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await closeRedis(this.#redis);
  }

  #sequenceCounter(conv: string): Counter {
    return { key: `${this.#prefix}seq:${conv}`, readFloor: () => this.#store.maxSeq(conv) };
  }

  #headCounter(user: string): Counter {
    return { key: `${this.#prefix}head:${user}`, readFloor: () => this.#store.maxStreamPos(user) };
  }

  /**
   * Runs a script and, while it reports missing counters, seeds them and runs it again.
   *
   * The script takes no number while any counter is missing, so a value is handed out only
   * after every counter it increments is at or above the store's highest value.
   */
  async #runSeeded(what: string, counters: Counter[], run: () => Promise<ScriptReply>): Promise<ScriptReply> {
    for (let round = 0; round < MAX_SEED_ROUNDS; round += 1) {
      const reply = await callRedis(what, run);
      if (reply[0] !== 'missing') return reply;

      const missing = reply.slice(1).map((index) => counters[Number(index) - 1]!);
      await Promise.all(missing.map((counter) => this.#seedOnce(counter)));
    }
    throw new UnavailableError(
      `Redis lost counters again while re-seeding them ${MAX_SEED_ROUNDS} times; ` +
        'check that its maxmemory-policy does not evict keys without a TTL',
    );
  }

  /** Joins the seed of the counter already in progress, or starts one. */
  #seedOnce(counter: Counter): Promise<void> {
    let seeding = this.#seeding.get(counter.key);
    if (!seeding) {
      seeding = this.#seed(counter).finally(() => this.#seeding.delete(counter.key));
      this.#seeding.set(counter.key, seeding);
    }
    return seeding;
  }

  /**
   * Sets a missing counter to the store's highest value plus the margin, only if still absent.
   *
   * SET NX keeps a counter that another process seeded, and then incremented, in the meantime:
   * overwriting it would move it backwards.
   */
  async #seed(counter: Counter): Promise<void> {
    let floor: number;
    const startedAt = Date.now();
    try {
      floor = await counter.readFloor();
    } catch (err) {
      throw new UnavailableError(`could not read the store to re-seed Redis counter ${counter.key}`, {
        cause: err,
      });
    }

    // A counter of a conversation or user with nothing stored is most likely new, not lost,
    // so it starts at 0 without the margin.
    // NOTE: a conversation whose only messages were still in flight when Redis lost its
    // counters gets those numbers again; the margin covers every counter with a stored floor.
    const tookMs = Date.now() - startedAt;
    if (tookMs >= SLOW_SEED_READ_MS) {
      this.#logger.warn({ key: counter.key, tookMs }, 'slow store read to seed a redis counter');
    }
    const value = floor > 0 ? floor + this.#seedMargin : 0;
    const set = await callRedis('re-seed a counter', () => this.#redis.set(counter.key, value, 'NX'));
    if (set !== 'OK' || floor === 0) return;

    // After a FLUSHALL every active conversation and user is re-seeded, so warn once a minute.
    this.#reseeds += 1;
    const now = Date.now();
    if (now - this.#reseedWarnedAt < 60_000) return;
    this.#logger.warn(
      { key: counter.key, value, floor, reseeds: this.#reseeds },
      'redis counters re-seeded from the store',
    );
    this.#reseedWarnedAt = now;
    this.#reseeds = 0;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('RedisSequencer is closed');
  }
}
