import type { Redis } from 'ioredis';
import {
  ConfigError,
  createLogger,
  type Bus,
  type ClusterEvent,
  type DeliveryBatch,
  type Logger,
  type NodeInfo,
  type PresenceChange,
  type PresenceDevice,
  type PresenceState,
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
  /**
   * Interval in milliseconds at which a bus with presence listeners removes expired devices
   * and announces the users who went offline (default 1000).
   */
  presenceSweepIntervalMs?: number;
}

export const DEFAULT_REDIS_SWEEP_INTERVAL_MS = 1000;

/** Devices per presence script call, so that no single call blocks Redis for long. */
const PRESENCE_CHUNK = 500;

// Reads the Redis clock in milliseconds into `now`.
const NOW_LUA = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

// KEYS[1] is the presence expiry sorted set and KEYS[i] (i >= 2) the device hash of the i-th
// device. ARGV[1] is the change channel, ARGV[2] the TTL in milliseconds, and ARGV[2i - 1],
// ARGV[2i] the user and device id of KEYS[i]. A user whose hash was empty comes online.
const PRESENCE_REFRESH_SCRIPT = `${NOW_LUA}
local expiresAt = now + tonumber(ARGV[2])
local changes = {}
for i = 2, #KEYS do
  local user = ARGV[2 * i - 1]
  if redis.call('HLEN', KEYS[i]) == 0 then
    changes[#changes + 1] = { user = user, online = true, at = now }
  end
  redis.call('HSET', KEYS[i], ARGV[2 * i], expiresAt)
  redis.call('ZADD', KEYS[1], expiresAt, user .. ' ' .. ARGV[2 * i])
end
if #changes > 0 then
  redis.call('PUBLISH', ARGV[1], cjson.encode(changes))
end
return {'refreshed', #changes}
`;

// KEYS[1] is the expiry sorted set, then a device hash and a last-seen key per device.
// ARGV[1] is the change channel, then the user and device id of each device.
const PRESENCE_REMOVE_SCRIPT = `${NOW_LUA}
local changes = {}
for i = 1, (#KEYS - 1) / 2 do
  local user = ARGV[2 * i]
  local device = ARGV[2 * i + 1]
  redis.call('ZREM', KEYS[1], user .. ' ' .. device)
  if redis.call('HDEL', KEYS[2 * i], device) == 1 and redis.call('HLEN', KEYS[2 * i]) == 0 then
    redis.call('SET', KEYS[2 * i + 1], now)
    changes[#changes + 1] = { user = user, online = false, at = now }
  end
end
if #changes > 0 then
  redis.call('PUBLISH', ARGV[1], cjson.encode(changes))
end
return {'removed', #changes}
`;

// KEYS[1] is the expiry sorted set. ARGV[1] is the change channel, ARGV[2] the key prefix of
// the device hashes and last-seen keys, ARGV[3] the most devices to expire in one call.
// NOTE: it builds the keys of the users it finds, so it runs on a single Redis, not on
// Redis Cluster, where a script must name every key it touches.
const PRESENCE_SWEEP_SCRIPT = `${NOW_LUA}
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local changes = {}
for _, member in ipairs(expired) do
  redis.call('ZREM', KEYS[1], member)
  local space = string.find(member, ' ', 1, true)
  local user = string.sub(member, 1, space - 1)
  local device = string.sub(member, space + 1)
  local devices = ARGV[2] .. 'devices:' .. user
  local at = tonumber(redis.call('HGET', devices, device)) or now
  if redis.call('HDEL', devices, device) == 1 and redis.call('HLEN', devices) == 0 then
    redis.call('SET', ARGV[2] .. 'seen:' .. user, at)
    changes[#changes + 1] = { user = user, online = false, at = at }
  end
end
if #changes > 0 then
  redis.call('PUBLISH', ARGV[1], cjson.encode(changes))
end
return {'expired', #expired}
`;

// KEYS are pairs of a device hash and a last-seen key. Returns {'presence', online, seen, ...}
// with online 1 or 0 and seen '' when never recorded.
const PRESENCE_READ_SCRIPT = `${NOW_LUA}
local out = {'presence'}
for i = 1, #KEYS, 2 do
  local online = 0
  for _, expiresAt in ipairs(redis.call('HVALS', KEYS[i])) do
    if tonumber(expiresAt) > now then
      online = 1
      break
    end
  end
  out[#out + 1] = online
  out[#out + 1] = redis.call('GET', KEYS[i + 1]) or ''
end
return out
`;

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
// Returns 1 when the node joined, 0 when it was a member already.
const HEARTBEAT_SCRIPT = `${SWEEP_LUA}
local known = redis.call('HGET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if not known then
  redis.call('PUBLISH', ARGV[1], 'join ' .. ARGV[2])
  return 1
elseif known ~= ARGV[3] then
  redis.call('PUBLISH', ARGV[1], 'update ' .. ARGV[2])
end
return 0
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
 * - channel `events`: one message per ClusterEvent, JSON-encoded.
 * - `presence:expiry`: sorted set of `<user> <device>`, scored by the device's expiry time in
 *   milliseconds of the Redis clock. No TTL: the sweep removes entries whose score passed.
 * - `presence:devices:<user>`: hash from device id to its expiry time, changed together with
 *   `presence:expiry`. It is empty, and so deleted, while the user is offline.
 * - `presence:seen:<user>`: when the user's last device went away, in milliseconds. No TTL.
 * - channel `presence:changed`: a JSON array of PresenceChange after each transition.
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
  readonly #scripts: {
    sweep: Script;
    members: Script;
    heartbeat: Script;
    leave: Script;
    presenceRefresh: Script;
    presenceRemove: Script;
    presenceSweep: Script;
    presenceRead: Script;
  };
  readonly #listeners = new Set<() => void>();
  readonly #resubscribedListeners = new Set<() => void>();
  readonly #nodeHandlers = new Map<string, Set<(batch: DeliveryBatch) => void>>();
  readonly #eventChannel: string;
  readonly #eventHandlers = new Set<(event: ClusterEvent) => void>();
  readonly #presencePrefix: string;
  readonly #presenceExpiryKey: string;
  readonly #presenceChannel: string;
  readonly #presenceSweepIntervalMs: number;
  readonly #presenceListeners = new Set<(changes: PresenceChange[]) => void>();
  #presenceSweeper: NodeJS.Timeout | undefined;
  #presenceSweeping = false;
  #presenceSweepFailed = false;
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
    const presenceSweepIntervalMs = options.presenceSweepIntervalMs ?? DEFAULT_REDIS_SWEEP_INTERVAL_MS;
    if (!Number.isInteger(presenceSweepIntervalMs) || presenceSweepIntervalMs < 1) {
      throw new ConfigError(
        'presenceSweepIntervalMs',
        `must be a positive integer, got ${presenceSweepIntervalMs}`,
      );
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

    const bus = new RedisBus(commands, subscriber, logger, prefix, sweepIntervalMs, presenceSweepIntervalMs);
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
    presenceSweepIntervalMs: number,
  ) {
    this.#commands = commands;
    this.#subscriber = subscriber;
    this.#logger = logger;
    this.#membershipKeys = [`${prefix}members:expiry`, `${prefix}members:info`];
    this.#membershipChannel = `${prefix}members:changed`;
    this.#nodeChannelPrefix = `${prefix}node:`;
    this.#sweepIntervalMs = sweepIntervalMs;
    this.#eventChannel = `${prefix}events`;
    this.#presencePrefix = `${prefix}presence:`;
    this.#presenceExpiryKey = `${prefix}presence:expiry`;
    this.#presenceChannel = `${prefix}presence:changed`;
    this.#presenceSweepIntervalMs = presenceSweepIntervalMs;
    this.#scripts = {
      sweep: defineScript(commands, 'swbMembersSweep', SWEEP_SCRIPT),
      members: defineScript(commands, 'swbMembersRead', MEMBERS_SCRIPT),
      heartbeat: defineScript(commands, 'swbMembersHeartbeat', HEARTBEAT_SCRIPT),
      leave: defineScript(commands, 'swbMembersLeave', LEAVE_SCRIPT),
      presenceRefresh: defineScript(commands, 'swbPresenceRefresh', PRESENCE_REFRESH_SCRIPT),
      presenceRemove: defineScript(commands, 'swbPresenceRemove', PRESENCE_REMOVE_SCRIPT),
      presenceSweep: defineScript(commands, 'swbPresenceSweep', PRESENCE_SWEEP_SCRIPT),
      presenceRead: defineScript(commands, 'swbPresenceRead', PRESENCE_READ_SCRIPT),
    };
    subscriber.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
    // The subscriber was ready before this handler existed, so every 'ready' follows a
    // reconnect. ioredis emits it on the next tick after it queued the re-subscriptions,
    // so a PING sent now gets its reply after theirs, once the notices flow again.
    subscriber.on('ready', () => {
      if (this.#closed) return;
      subscriber.ping().then(
        () => {
          this.#notifyMembership();
          this.#notifyResubscribed();
        },
        (err: unknown) => this.#logger.warn({ err }, 'redis subscriber ping after reconnect failed'),
      );
    });
  }

  async heartbeat(node: NodeInfo, ttlMs: number): Promise<boolean> {
    this.#assertOpen();
    if (!Number.isInteger(ttlMs) || ttlMs < 1) {
      throw new RangeError(`heartbeat ttlMs must be a positive integer, got ${ttlMs}`);
    }
    // A fixed field order, so that an unchanged node gives the same JSON and no notice.
    const info: NodeInfo = { id: node.id, url: node.url, weight: node.weight, startedAt: node.startedAt };
    const args = [this.#membershipChannel, node.id, JSON.stringify(info), String(ttlMs)];
    const joined = await callRedis('record a heartbeat', () =>
      this.#scripts.heartbeat(this.#membershipKeys, args),
    );
    // The script returns a bare integer, not the usual reply array.
    return Number(joined as unknown) === 1;
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

  onResubscribed(listener: () => void): () => void {
    this.#resubscribedListeners.add(listener);
    return () => this.#resubscribedListeners.delete(listener);
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

  async publishEvent(event: ClusterEvent): Promise<void> {
    this.#assertOpen();
    await callRedis('publish a cluster event', () =>
      this.#commands.publish(this.#eventChannel, JSON.stringify(event)),
    );
  }

  async subscribeEvents(handler: (event: ClusterEvent) => void): Promise<Unsubscribe> {
    this.#assertOpen();
    this.#eventHandlers.add(handler);
    // Subscribed on first use, so a bus that only delivers batches subscribes to no extra channel.
    if (this.#eventHandlers.size === 1) {
      await callRedis('subscribe to cluster events', () => this.#subscriber.subscribe(this.#eventChannel));
    }
    return async () => {
      if (!this.#eventHandlers.delete(handler) || this.#eventHandlers.size > 0 || this.#closed) return;
      await callRedis('unsubscribe from cluster events', () =>
        this.#subscriber.unsubscribe(this.#eventChannel),
      );
    };
  }

  async refreshPresence(devices: PresenceDevice[], ttlMs: number): Promise<void> {
    this.#assertOpen();
    if (!Number.isInteger(ttlMs) || ttlMs < 1) {
      throw new RangeError(`presence ttlMs must be a positive integer, got ${ttlMs}`);
    }
    for (let start = 0; start < devices.length; start += PRESENCE_CHUNK) {
      const chunk = devices.slice(start, start + PRESENCE_CHUNK);
      const keys = [this.#presenceExpiryKey, ...chunk.map((entry) => this.#devicesKey(entry.user))];
      const args = [
        this.#presenceChannel,
        String(ttlMs),
        ...chunk.flatMap((entry) => [entry.user, entry.device]),
      ];
      await callRedis('refresh presence', () => this.#scripts.presenceRefresh(keys, args));
    }
  }

  async removePresence(devices: PresenceDevice[]): Promise<void> {
    this.#assertOpen();
    for (let start = 0; start < devices.length; start += PRESENCE_CHUNK) {
      const chunk = devices.slice(start, start + PRESENCE_CHUNK);
      const keys = [
        this.#presenceExpiryKey,
        ...chunk.flatMap((entry) => [this.#devicesKey(entry.user), this.#seenKey(entry.user)]),
      ];
      const args = [this.#presenceChannel, ...chunk.flatMap((entry) => [entry.user, entry.device])];
      await callRedis('remove presence', () => this.#scripts.presenceRemove(keys, args));
    }
  }

  async readPresence(users: string[]): Promise<PresenceState[]> {
    this.#assertOpen();
    const states: PresenceState[] = [];
    for (let start = 0; start < users.length; start += PRESENCE_CHUNK) {
      const chunk = users.slice(start, start + PRESENCE_CHUNK);
      const keys = chunk.flatMap((user) => [this.#devicesKey(user), this.#seenKey(user)]);
      const reply = await callRedis('read presence', () => this.#scripts.presenceRead(keys, []));
      chunk.forEach((user, index) => {
        const seen = String(reply[2 + index * 2]);
        states.push({
          user,
          online: Number(reply[1 + index * 2]) === 1,
          lastSeen: seen === '' ? null : Number(seen),
        });
      });
    }
    return states;
  }

  onPresenceChange(listener: (changes: PresenceChange[]) => void): () => void {
    this.#presenceListeners.add(listener);
    if (this.#presenceListeners.size === 1 && !this.#closed) {
      this.#subscriber.subscribe(this.#presenceChannel).catch((err: unknown) => {
        this.#logger.warn({ err }, 'redis presence subscription failed');
      });
      this.#presenceSweeper = setInterval(() => void this.#sweepPresence(), this.#presenceSweepIntervalMs);
      this.#presenceSweeper.unref();
    }
    return () => {
      if (!this.#presenceListeners.delete(listener) || this.#presenceListeners.size > 0) return;
      clearInterval(this.#presenceSweeper);
      this.#presenceSweeper = undefined;
      if (this.#closed) return;
      this.#subscriber.unsubscribe(this.#presenceChannel).catch((err: unknown) => {
        this.#logger.warn({ err }, 'redis presence unsubscribe failed');
      });
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopSweeper();
    clearInterval(this.#presenceSweeper);
    this.#presenceSweeper = undefined;
    this.#listeners.clear();
    this.#nodeHandlers.clear();
    this.#eventHandlers.clear();
    this.#presenceListeners.clear();
    await Promise.all([closeRedis(this.#subscriber), closeRedis(this.#commands)]);
  }

  #nodeChannel(nodeId: string): string {
    return `${this.#nodeChannelPrefix}${nodeId}`;
  }

  #devicesKey(user: string): string {
    return `${this.#presencePrefix}devices:${user}`;
  }

  #seenKey(user: string): string {
    return `${this.#presencePrefix}seen:${user}`;
  }

  /** Expires devices whose TTL passed, a chunk per call, until a call finds fewer than a chunk. */
  async #sweepPresence(): Promise<void> {
    if (this.#presenceSweeping || this.#closed) return;
    this.#presenceSweeping = true;
    try {
      const args = [this.#presenceChannel, this.#presencePrefix, String(PRESENCE_CHUNK)];
      let expired: number;
      do {
        const reply = await this.#scripts.presenceSweep([this.#presenceExpiryKey], args);
        expired = Number(reply[1]);
      } while (expired >= PRESENCE_CHUNK && !this.#closed);
      this.#presenceSweepFailed = false;
    } catch (err) {
      // Warn once per outage, as the membership sweep does.
      if (!this.#presenceSweepFailed && !this.#closed) this.#logger.warn({ err }, 'presence sweep failed');
      this.#presenceSweepFailed = true;
    } finally {
      this.#presenceSweeping = false;
    }
  }

  #onMessage(channel: string, message: string): void {
    if (channel === this.#membershipChannel) {
      this.#notifyMembership();
      return;
    }
    if (channel === this.#eventChannel) {
      this.#dispatchEvent(message);
      return;
    }
    if (channel === this.#presenceChannel) {
      this.#dispatchPresence(message);
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

  #dispatchEvent(message: string): void {
    let event: ClusterEvent;
    try {
      event = JSON.parse(message) as ClusterEvent;
    } catch (err) {
      this.#logger.warn({ err }, 'malformed cluster event dropped');
      return;
    }
    for (const handler of [...this.#eventHandlers]) {
      try {
        handler(event);
      } catch (err) {
        this.#logger.error({ err, kind: event.kind }, 'cluster event handler failed');
      }
    }
  }

  #dispatchPresence(message: string): void {
    let changes: PresenceChange[];
    try {
      changes = JSON.parse(message) as PresenceChange[];
    } catch (err) {
      this.#logger.warn({ err }, 'malformed presence change dropped');
      return;
    }
    for (const listener of [...this.#presenceListeners]) {
      try {
        listener(changes);
      } catch (err) {
        this.#logger.error({ err }, 'presence listener failed');
      }
    }
  }

  #notifyResubscribed(): void {
    this.#logger.info('redis subscriptions restored; deliveries published meanwhile were lost');
    this.#callEach(this.#resubscribedListeners, 'resubscribe listener failed');
  }

  #notifyMembership(): void {
    this.#callEach(this.#listeners, 'membership listener failed');
  }

  /** Calls every listener of `listeners`, and logs one that throws with `failure`. */
  #callEach(listeners: Set<() => void>, failure: string): void {
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch (err) {
        this.#logger.error({ err }, failure);
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
