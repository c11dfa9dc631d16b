import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
import { ClientConfigError } from './errors.ts';
import type { ClientStateStore } from './state-store.ts';
import type { WebSocketConstructor } from './websocket.ts';

/** Options of `SwitchboardClient`. Times are in milliseconds. */
export interface SwitchboardClientOptions {
  /** Origin of the HTTP API and router, for example `http://127.0.0.1:8080`. */
  apiUrl: string;
  /** Origin of the router when it runs apart from the API (default `apiUrl`). */
  routerUrl?: string;
  /** WebSocket constructor (default `globalThis.WebSocket`, else the `ws` package). */
  WebSocket?: WebSocketConstructor;
  /** fetch implementation (default `globalThis.fetch`). */
  fetch?: typeof globalThis.fetch;
  /** Storage of stream position, last sequence numbers and outbox (default in memory). */
  state?: ClientStateStore;
  /** Send a delivered receipt for messages from others once they are emitted (default true). */
  autoDelivered?: boolean;
  /** Resend an unacknowledged message (same id) after this long (default 10000). */
  sendTimeoutMs?: number;
  /** Reconnect backoff with full jitter over min(maxMs, baseMs * 2^attempt); defaults 250 and 10000. */
  reconnect?: Partial<BackoffOptions>;
  /** Wait this long for a missing sequence number or stream position before requesting it (default 150). */
  gapDelayMs?: number;
  /** Collect receipts for this long before sending them (default 50). */
  receiptDelayMs?: number;
  /** Ping after this long without sending (default 20000, at most half the node's idle timeout). */
  pingIntervalMs?: number;
  /** Maximum random delay before reconnecting after close 4003, node draining (default 2000). */
  drainDelayMaxMs?: number;
  /** Time allowed from opening a socket to its welcome frame (default 10000). */
  connectTimeoutMs?: number;
  /** Collect state changes for this long before saving them (default 100). */
  stateSaveDelayMs?: number;
  /** Entries per sync request (default 200, capped by the node's syncPageMax). */
  syncPageSize?: number;
}

/** Options with every default filled in. */
export interface ResolvedClientOptions {
  apiUrl: string;
  routerUrl: string;
  WebSocket: WebSocketConstructor | undefined;
  fetch: typeof globalThis.fetch;
  autoDelivered: boolean;
  sendTimeoutMs: number;
  reconnect: BackoffOptions;
  gapDelayMs: number;
  receiptDelayMs: number;
  pingIntervalMs: number;
  drainDelayMaxMs: number;
  connectTimeoutMs: number;
  stateSaveDelayMs: number;
  syncPageSize: number;
}

/** Checks the options and fills in defaults; throws ClientConfigError on a bad value. */
export function resolveClientOptions(options: SwitchboardClientOptions): ResolvedClientOptions {
  if (typeof options?.apiUrl !== 'string' || !/^https?:\/\/[^/]/.test(options.apiUrl)) {
    throw new ClientConfigError(
      'apiUrl',
      `expected an http:// or https:// URL, got ${String(options?.apiUrl)}`,
    );
  }
  if (options.routerUrl !== undefined && !/^https?:\/\/[^/]/.test(options.routerUrl)) {
    throw new ClientConfigError(
      'routerUrl',
      `expected an http:// or https:// URL, got ${String(options.routerUrl)}`,
    );
  }
  const fetchImplementation = options.fetch ?? defaultFetch();
  const reconnect = { ...DEFAULT_BACKOFF, ...options.reconnect };

  return {
    apiUrl: options.apiUrl,
    routerUrl: options.routerUrl ?? options.apiUrl,
    WebSocket: options.WebSocket,
    fetch: fetchImplementation,
    autoDelivered: options.autoDelivered ?? true,
    sendTimeoutMs: readInteger('sendTimeoutMs', options.sendTimeoutMs, 10_000),
    reconnect: {
      baseMs: readInteger('reconnect.baseMs', reconnect.baseMs, DEFAULT_BACKOFF.baseMs),
      maxMs: readInteger('reconnect.maxMs', reconnect.maxMs, DEFAULT_BACKOFF.maxMs),
    },
    gapDelayMs: readInteger('gapDelayMs', options.gapDelayMs, 150, 0),
    receiptDelayMs: readInteger('receiptDelayMs', options.receiptDelayMs, 50, 0),
    pingIntervalMs: readInteger('pingIntervalMs', options.pingIntervalMs, 20_000),
    drainDelayMaxMs: readInteger('drainDelayMaxMs', options.drainDelayMaxMs, 2_000, 0),
    connectTimeoutMs: readInteger('connectTimeoutMs', options.connectTimeoutMs, 10_000),
    stateSaveDelayMs: readInteger('stateSaveDelayMs', options.stateSaveDelayMs, 100, 0),
    syncPageSize: readInteger('syncPageSize', options.syncPageSize, 200),
  };
}

function defaultFetch(): typeof globalThis.fetch {
  if (typeof globalThis.fetch !== 'function') {
    throw new ClientConfigError('fetch', 'this platform has no global fetch; pass one in the options');
  }
  // Browsers reject fetch called with another `this`, so the call goes through globalThis.
  return (input, init) => globalThis.fetch(input, init);
}

function readInteger(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new ClientConfigError(name, `expected an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}
