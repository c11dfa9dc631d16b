import type { Redis } from 'ioredis';
import {
  ConfigError,
  createLogger,
  type Bus,
  type DeliveryBatch,
  type Logger,
  type NodeInfo,
  type Unsubscribe,
} from '@switchboard/core';
import {
  callRedis,
  closeRedis,
  connectRedis,
  DEFAULT_KEY_PREFIX,
  defineScript,
  type RedisConnectionOptions,
  type Script,
} from './redis-connection.ts';

export interface RedisBusOptions extends RedisConnectionOptions {
  /**
   * Interval in milliseconds at which a bus with membership listeners removes expired members
   * (default 1000). It makes an expiry announced even when no process reads the members.
   */
  sweepIntervalMs?: number;
}

export const DEFAULT_REDIS_SWEEP_INTERVAL_MS = 1000;

// Each script reads the time from Redis, so every process judges expiry by the same clock.
// Entries whose expiry time is at or before now are removed from both keys, and one notice
// is published for them. KEYS[1] is the expiry sorted set, KEYS[2] the NodeInfo hash and
// ARGV[1] the notice channel.
const SWEEP_LUA = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
if #expired > 0 then
  redis.call('PUBLISH', ARGV[1], 'expire ' .. table.concat(expired, ','))
end
`;

// Returns the number of expired entries removed.
const SWEEP_SCRIPT = `${SWEEP_LUA}
return #expired
`;

// Returns the NodeInfo JSON of every live member, in no particular order.
const MEMBERS_SCRIPT = `${SWEEP_LUA}
return redis.call('HVALS', KEYS[2])
`;

// ARGV[2] is the node id, ARGV[3] its NodeInfo JSON and ARGV[4] the TTL in milliseconds.
// A notice goes out when the node joins or its NodeInfo changes, not on a plain refresh.
const HEARTBEAT_SCRIPT = `${SWEEP_LUA}
local known = redis.call('HGET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if not known then
  redis.call('PUBLISH', ARGV[1], 'join ' .. ARGV[2])
elseif known ~= ARGV[3] then
  redis.call('PUBLISH', ARGV[1], 'update ' .. ARGV[2])
end
return 1
`;

// ARGV[2] is the node id. Returns 1 when the node was a member.
const LEAVE_SCRIPT = `
local removed = redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
if removed == 1 then
  redis.call('PUBLISH', ARGV[1], 'leave ' .. ARGV[2])
end
return removed
`;

/**
 * The Bus of the cluster profile, over Redis.
 *
 * Keys and channels, after the key prefix (default `swb:`):
 * - `members:expiry`: sorted set of node ids, scored by expiry time in milliseconds of the
 *   Redis clock. No TTL: entries are removed by the Lua scripts once their score has passed.
 * - `members:info`: hash from node id to NodeInfo JSON, changed only together with
 *   `members:expiry`, in one Lua script. No TTL.
 * - channel `members:changed`: a notice after each join, NodeInfo change, leave or expiry,
 *   with the payload `join <id>`, `update <id>`, `leave <id>` or `expire <id>,<id>...`.
 * - channel `node:<nodeId>`: one message per DeliveryBatch, JSON-encoded.
 *
 * It uses two connections: one for commands and one in subscriber mode. ioredis subscribes
 * again after a reconnect, and the bus then notifies the membership listeners, because
 * notices sent while the subscriber was disconnected are lost. Redis failures reject with
 * an UnavailableError whose `cause` is the ioredis error.
 */
export class RedisBus implements Bus {
  readonly #commands: Redis;
  readonly #subscriber: Redis;
  readonly #logger: Logger;
  readonly #membershipKeys: string[];
  readonly #membershipChannel: string;
  readonly #nodeChannelPrefix: string;
  readonly #sweepIntervalMs: number;
  readonly #scripts: { sweep: Script; members: Script; heartbeat: Script; leave: Script };
  readonly #listeners = new Set<() => void>();
  readonly #nodeHandlers = new Map<string, Set<(batch: DeliveryBatch) => void>>();
  #sweeper: NodeJS.Timeout | undefined;
  #sweeping = false;
  #sweepFailed = false;
  #closed = false;

  /** Connects both connections and subscribes to membership notices before resolving. */
  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    const logger = options.logger ?? createLogger('redis-bus');
    const name = options.connectionName ?? 'swb-bus';
    const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_REDIS_SWEEP_INTERVAL_MS;
    if (!Number.isInteger(sweepIntervalMs) || sweepIntervalMs < 1) {
      throw new ConfigError('sweepIntervalMs', `must be a positive integer, got ${sweepIntervalMs}`);
    }
    const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;

    const commands = await connectRedis(options, name, logger);
    let subscriber: Redis;
    try {
      subscriber = await connectRedis(options, `${name}-sub`, logger);
    } catch (err) {
      await closeRedis(commands);
      throw err;
    }

    const bus = new RedisBus(commands, subscriber, logger, prefix, sweepIntervalMs);
    try {
      await callRedis('subscribe to membership notices', () => subscriber.subscribe(bus.#membershipChannel));
    } catch (err) {
      await bus.close();
      throw err;
    }
    return bus;
  }

  private constructor(
    commands: Redis,
    subscriber: Redis,
    logger: Logger,
    prefix: string,
    sweepIntervalMs: number,
  ) {
    this.#commands = commands;
    this.#subscriber = subscriber;
    this.#logger = logger;
    this.#membershipKeys = [`${prefix}members:expiry`, `${prefix}members:info`];
    this.#membershipChannel = `${prefix}members:changed`;
    this.#nodeChannelPrefix = `${prefix}node:`;
    this.#sweepIntervalMs = sweepIntervalMs;
    this.#scripts = {
      sweep: defineScript(commands, 'swbMembersSweep', SWEEP_SCRIPT),
      members: defineScript(commands, 'swbMembersRead', MEMBERS_SCRIPT),
      heartbeat: defineScript(commands, 'swbMembersHeartbeat', HEARTBEAT_SCRIPT),
      leave: defineScript(commands, 'swbMembersLeave', LEAVE_SCRIPT),
    };
    subscriber.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
    // ioredis emits 'ready' on the next tick after it queued the re-subscriptions, so a
    // PING sent now gets its reply after theirs, once the notices flow again.
    subscriber.on('ready', () => {
      if (this.#closed) return;
      subscriber.ping().then(
        () => this.#notifyMembership(),
        (err: unknown) => this.#logger.warn({ err }, 'redis subscriber ping after reconnect failed'),
      );
    });
  }

  async heartbeat(node: NodeInfo, ttlMs: number): Promise<void> {
    this.#assertOpen();
    if (!Number.isInteger(ttlMs) || ttlMs < 1) {
      throw new RangeError(`heartbeat ttlMs must be a positive integer, got ${ttlMs}`);
    }
    // A fixed field order, so that an unchanged node gives the same JSON and no notice.
    const info: NodeInfo = { id: node.id, url: node.url, weight: node.weight, startedAt: node.startedAt };
    const args = [this.#membershipChannel, node.id, JSON.stringify(info), String(ttlMs)];
    await callRedis('record a heartbeat', () => this.#scripts.heartbeat(this.#membershipKeys, args));
  }

  async leave(nodeId: string): Promise<void> {
    this.#assertOpen();
    const args = [this.#membershipChannel, nodeId];
    await callRedis('remove a member', () => this.#scripts.leave(this.#membershipKeys, args));
  }

  async members(): Promise<NodeInfo[]> {
    this.#assertOpen();
    const reply = await callRedis('read the members', () =>
      this.#scripts.members(this.#membershipKeys, [this.#membershipChannel]),
    );
    return reply.map((json) => JSON.parse(String(json)) as NodeInfo).sort(compareIds);
  }

  onMembershipChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    this.#startSweeper();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stopSweeper();
    };
  }

  async subscribeNode(nodeId: string, handler: (batch: DeliveryBatch) => void): Promise<Unsubscribe> {
    this.#assertOpen();
    const channel = this.#nodeChannel(nodeId);
    let handlers = this.#nodeHandlers.get(channel);
    if (handlers === undefined) {
      handlers = new Set();
      this.#nodeHandlers.set(channel, handlers);
    }
    handlers.add(handler);
    // The subscriber connection runs commands in order, so a SUBSCRIBE queued after an
    // UNSUBSCRIBE of the same channel still leaves the channel subscribed.
    if (handlers.size === 1) {
      await callRedis('subscribe to a node channel', () => this.#subscriber.subscribe(channel));
    }

    return async () => {
      const current = this.#nodeHandlers.get(channel);
      if (current === undefined || !current.delete(handler) || current.size > 0) return;
      this.#nodeHandlers.delete(channel);
      if (this.#closed) return;
      await callRedis('unsubscribe from a node channel', () => this.#subscriber.unsubscribe(channel));
    };
  }

  async publishToNode(nodeId: string, batch: DeliveryBatch): Promise<void> {
    this.#assertOpen();
    const channel = this.#nodeChannel(nodeId);
    await callRedis('publish a delivery batch', () => this.#commands.publish(channel, JSON.stringify(batch)));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopSweeper();
    this.#listeners.clear();
    this.#nodeHandlers.clear();
    await Promise.all([closeRedis(this.#subscriber), closeRedis(this.#commands)]);
  }

  #nodeChannel(nodeId: string): string {
    return `${this.#nodeChannelPrefix}${nodeId}`;
  }

  #onMessage(channel: string, message: string): void {
    if (channel === this.#membershipChannel) {
      this.#notifyMembership();
      return;
    }
    const handlers = this.#nodeHandlers.get(channel);
    if (handlers === undefined) return;

    let batch: DeliveryBatch;
    try {
      batch = JSON.parse(message) as DeliveryBatch;
    } catch (err) {
      this.#logger.warn({ err, channel }, 'malformed delivery batch dropped');
      return;
    }
    // Iterate over a copy, because a handler may unsubscribe while the batch is handed out.
    for (const handler of [...handlers]) {
      try {
        handler(batch);
      } catch (err) {
        this.#logger.error({ err, channel, from: batch.from }, 'delivery handler failed');
      }
    }
  }

  #notifyMembership(): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener();
      } catch (err) {
        this.#logger.error({ err }, 'membership listener failed');
      }
    }
  }

  // Only a bus with listeners sweeps, because it must learn of an expiry even when no
  // process reads the members or heartbeats.
  #startSweeper(): void {
    if (this.#sweeper !== undefined || this.#closed) return;
    this.#sweeper = setInterval(() => void this.#sweep(), this.#sweepIntervalMs);
    this.#sweeper.unref();
  }

  #stopSweeper(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  async #sweep(): Promise<void> {
    if (this.#sweeping || this.#closed) return;
    this.#sweeping = true;
    try {
      await this.#scripts.sweep(this.#membershipKeys, [this.#membershipChannel]);
      this.#sweepFailed = false;
    } catch (err) {
      // Warn once per outage, because the connection's own warning covers the details.
      if (!this.#sweepFailed && !this.#closed) this.#logger.warn({ err }, 'membership sweep failed');
      this.#sweepFailed = true;
    } finally {
      this.#sweeping = false;
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('RedisBus is closed');
  }
}

function compareIds(a: NodeInfo, b: NodeInfo): number {
  if (a.id === b.id) return 0;
  return a.id < b.id ? -1 : 1;
}
