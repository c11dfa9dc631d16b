import { readInt, type Env } from '@switchboard/core';
import { DEFAULT_PRESENCE_SUBSCRIBE_MAX } from '@switchboard/protocol';

/** Settings of notices, presence and typing indicators. Each has an `SWB_` variable. */
export interface RealtimePolicy {
  /** Minimum time between two notices of one large group to one node's members (SWB_NOTICE_INTERVAL_MS). */
  noticeIntervalMs: number;
  /**
   * Lifetime of a device's presence without renewal; a killed node's users go offline within
   * it plus one sweep and one coalescing interval (SWB_PRESENCE_TTL_MS). Renewed every third of it.
   */
  presenceTtlMs: number;
  /** Interval over which a node coalesces presence changes into one frame per subscriber (SWB_PRESENCE_INTERVAL_MS). */
  presenceIntervalMs: number;
  /** Most users one `presence.subscribe` may name (SWB_PRESENCE_SUBSCRIBE_MAX). */
  presenceSubscribeMax: number;
  /** How long a typing `start` lasts at the receivers without renewal (SWB_TYPING_TTL_MS). */
  typingTtlMs: number;
  /** Typing frames per second a connection may send, bursts of twice that; more are dropped (SWB_TYPING_PER_SECOND). */
  typingPerSecond: number;
}

export const DEFAULT_REALTIME_POLICY: RealtimePolicy = {
  noticeIntervalMs: 1000,
  presenceTtlMs: 30_000,
  presenceIntervalMs: 1000,
  presenceSubscribeMax: DEFAULT_PRESENCE_SUBSCRIBE_MAX,
  typingTtlMs: 6000,
  typingPerSecond: 2,
};

const REALTIME_VARIABLES: Record<keyof RealtimePolicy, string> = {
  noticeIntervalMs: 'SWB_NOTICE_INTERVAL_MS',
  presenceTtlMs: 'SWB_PRESENCE_TTL_MS',
  presenceIntervalMs: 'SWB_PRESENCE_INTERVAL_MS',
  presenceSubscribeMax: 'SWB_PRESENCE_SUBSCRIBE_MAX',
  typingTtlMs: 'SWB_TYPING_TTL_MS',
  typingPerSecond: 'SWB_TYPING_PER_SECOND',
};

/** Reads the realtime policy from `SWB_` variables, falling back to the defaults. */
export function readRealtimePolicy(env: Env, base = DEFAULT_REALTIME_POLICY): RealtimePolicy {
  return {
    noticeIntervalMs: readInt(env, REALTIME_VARIABLES.noticeIntervalMs, base.noticeIntervalMs, {
      min: 10,
      max: 60_000,
    }),
    presenceTtlMs: readInt(env, REALTIME_VARIABLES.presenceTtlMs, base.presenceTtlMs, {
      min: 300,
      max: 3_600_000,
    }),
    presenceIntervalMs: readInt(env, REALTIME_VARIABLES.presenceIntervalMs, base.presenceIntervalMs, {
      min: 10,
      max: 60_000,
    }),
    presenceSubscribeMax: readInt(env, REALTIME_VARIABLES.presenceSubscribeMax, base.presenceSubscribeMax, {
      min: 1,
      max: 10_000,
    }),
    typingTtlMs: readInt(env, REALTIME_VARIABLES.typingTtlMs, base.typingTtlMs, { min: 100, max: 60_000 }),
    typingPerSecond: readInt(env, REALTIME_VARIABLES.typingPerSecond, base.typingPerSecond, {
      min: 1,
      max: 1000,
    }),
  };
}

/** Turns realtime settings into the `SWB_` variables that `readRealtimePolicy` reads. */
export function buildRealtimeEnv(policy: Partial<RealtimePolicy>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(policy) as Array<[keyof RealtimePolicy, number | undefined]>) {
    if (value !== undefined) env[REALTIME_VARIABLES[key]] = String(value);
  }
  return env;
}
