import { ConfigError, readInt, type Env } from '@switchboard/core';

/** Limits a chat node applies to every connection. Each has an `SWB_` variable. */
export interface ConnectionPolicy {
  /** Largest text frame answered with an error instead of a close (SWB_MAX_FRAME_BYTES). */
  maxFrameBytes: number;
  /** Largest message body in UTF-8 bytes (SWB_MAX_BODY_BYTES). */
  maxBodyBytes: number;
  /** Sustained frames per second per connection; bursts up to twice that (SWB_FRAMES_PER_SECOND). */
  framesPerSecond: number;
  /** Frames dropped in a row for rate before the connection is closed with 4004 (SWB_RATE_LIMIT_CLOSE_AFTER). */
  rateLimitCloseAfter: number;
  /** Consecutive invalid frames before the connection is closed with 4006 (SWB_MAX_INVALID_FRAMES). */
  maxInvalidFrames: number;
  /** Seconds without any frame before the node closes the connection (SWB_IDLE_TIMEOUT_SECONDS). */
  idleTimeoutSeconds: number;
  /** Bytes buffered for a connection before live deliveries to it are dropped (SWB_SEND_BUFFER_BYTES). */
  sendBufferBytes: number;
  /** Milliseconds a connection may stay behind before it is closed with 4005 (SWB_SLOW_CONSUMER_CLOSE_MS). */
  slowConsumerCloseMs: number;
  /** Largest sync page a client may request (SWB_SYNC_PAGE_MAX). */
  syncPageMax: number;
  /** Sync page size when the client names none (SWB_SYNC_PAGE_DEFAULT). */
  syncPageDefault: number;
  /** Widest sequence range of one fetch (SWB_FETCH_RANGE_MAX). */
  fetchRangeMax: number;
  /** Window over which connections moved by a ring change are closed (SWB_REBALANCE_WINDOW_MS). */
  rebalanceWindowMs: number;
  /** Window over which a draining node closes its connections (SWB_DRAIN_WINDOW_MS). */
  drainWindowMs: number;
  /** Open connections one user may hold on a node; more are closed with 4008 (SWB_MAX_CONNECTIONS_PER_USER). */
  maxConnectionsPerUser: number;
  /** Rate-limit tokens a sync or fetch costs, as it reads the store and builds a large frame (SWB_READ_FRAME_COST). */
  readFrameCost: number;
}

export const DEFAULT_CONNECTION_POLICY: ConnectionPolicy = {
  maxFrameBytes: 16 * 1024,
  maxBodyBytes: 4096,
  framesPerSecond: 50,
  rateLimitCloseAfter: 200,
  maxInvalidFrames: 20,
  idleTimeoutSeconds: 60,
  sendBufferBytes: 256 * 1024,
  slowConsumerCloseMs: 30_000,
  syncPageMax: 500,
  syncPageDefault: 200,
  fetchRangeMax: 100,
  rebalanceWindowMs: 2000,
  drainWindowMs: 2000,
  maxConnectionsPerUser: 16,
  readFrameCost: 5,
};

/** Reads the connection policy from `SWB_` variables, falling back to the defaults. */
export function readConnectionPolicy(env: Env, base = DEFAULT_CONNECTION_POLICY): ConnectionPolicy {
  const policy: ConnectionPolicy = {
    maxFrameBytes: readInt(env, 'SWB_MAX_FRAME_BYTES', base.maxFrameBytes, { min: 256, max: 1 << 24 }),
    maxBodyBytes: readInt(env, 'SWB_MAX_BODY_BYTES', base.maxBodyBytes, { min: 1, max: 1 << 20 }),
    framesPerSecond: readInt(env, 'SWB_FRAMES_PER_SECOND', base.framesPerSecond, { min: 1, max: 100_000 }),
    rateLimitCloseAfter: readInt(env, 'SWB_RATE_LIMIT_CLOSE_AFTER', base.rateLimitCloseAfter, { min: 1 }),
    maxInvalidFrames: readInt(env, 'SWB_MAX_INVALID_FRAMES', base.maxInvalidFrames, { min: 1 }),
    idleTimeoutSeconds: readInt(env, 'SWB_IDLE_TIMEOUT_SECONDS', base.idleTimeoutSeconds, {
      min: 8,
      max: 960,
    }),
    sendBufferBytes: readInt(env, 'SWB_SEND_BUFFER_BYTES', base.sendBufferBytes, { min: 1024 }),
    slowConsumerCloseMs: readInt(env, 'SWB_SLOW_CONSUMER_CLOSE_MS', base.slowConsumerCloseMs, { min: 100 }),
    syncPageMax: readInt(env, 'SWB_SYNC_PAGE_MAX', base.syncPageMax, { min: 1, max: 10_000 }),
    syncPageDefault: readInt(env, 'SWB_SYNC_PAGE_DEFAULT', base.syncPageDefault, { min: 1, max: 10_000 }),
    fetchRangeMax: readInt(env, 'SWB_FETCH_RANGE_MAX', base.fetchRangeMax, { min: 1, max: 10_000 }),
    rebalanceWindowMs: readInt(env, 'SWB_REBALANCE_WINDOW_MS', base.rebalanceWindowMs, { min: 0 }),
    drainWindowMs: readInt(env, 'SWB_DRAIN_WINDOW_MS', base.drainWindowMs, { min: 0 }),
    maxConnectionsPerUser: readInt(env, 'SWB_MAX_CONNECTIONS_PER_USER', base.maxConnectionsPerUser, {
      min: 1,
      max: 10_000,
    }),
    readFrameCost: readInt(env, 'SWB_READ_FRAME_COST', base.readFrameCost, { min: 1, max: 1000 }),
  };
  if (policy.maxBodyBytes >= policy.maxFrameBytes) {
    throw new ConfigError(
      'SWB_MAX_BODY_BYTES',
      'must be smaller than SWB_MAX_FRAME_BYTES, which also holds the envelope',
    );
  }
  if (policy.syncPageDefault > policy.syncPageMax) {
    throw new ConfigError('SWB_SYNC_PAGE_DEFAULT', 'must not exceed SWB_SYNC_PAGE_MAX');
  }
  return policy;
}

const POLICY_VARIABLES: Record<keyof ConnectionPolicy, string> = {
  maxFrameBytes: 'SWB_MAX_FRAME_BYTES',
  maxBodyBytes: 'SWB_MAX_BODY_BYTES',
  framesPerSecond: 'SWB_FRAMES_PER_SECOND',
  rateLimitCloseAfter: 'SWB_RATE_LIMIT_CLOSE_AFTER',
  maxInvalidFrames: 'SWB_MAX_INVALID_FRAMES',
  idleTimeoutSeconds: 'SWB_IDLE_TIMEOUT_SECONDS',
  sendBufferBytes: 'SWB_SEND_BUFFER_BYTES',
  slowConsumerCloseMs: 'SWB_SLOW_CONSUMER_CLOSE_MS',
  syncPageMax: 'SWB_SYNC_PAGE_MAX',
  syncPageDefault: 'SWB_SYNC_PAGE_DEFAULT',
  fetchRangeMax: 'SWB_FETCH_RANGE_MAX',
  rebalanceWindowMs: 'SWB_REBALANCE_WINDOW_MS',
  drainWindowMs: 'SWB_DRAIN_WINDOW_MS',
  maxConnectionsPerUser: 'SWB_MAX_CONNECTIONS_PER_USER',
  readFrameCost: 'SWB_READ_FRAME_COST',
};

/** Turns policy settings into the `SWB_` variables that `readConnectionPolicy` reads. */
export function buildPolicyEnv(policy: Partial<ConnectionPolicy>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(policy) as Array<[keyof ConnectionPolicy, number | undefined]>) {
    if (value !== undefined) env[POLICY_VARIABLES[key]] = String(value);
  }
  return env;
}
