/**
 * Declares a handler whose parameter is checked bivariantly, so both the DOM WebSocket and
 * the `ws` package's WebSocket (whose event types differ) fit the interface below.
 */
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** The part of the WHATWG WebSocket API that the client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: `globalThis.WebSocket` in browsers, or `ws` in Node. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `readyState` of an open WebSocket, the same in every implementation. */
export const WEBSOCKET_OPEN = 1;

// A variable specifier keeps bundlers from pulling `ws` into browser builds.
const WS_MODULE = 'ws';

/**
 * Returns the WebSocket constructor to use: the given one, else the platform's, else the
 * `ws` package, loaded only when needed (Node 20 has no global WebSocket).
 */
export async function resolveWebSocket(given?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (given !== undefined) return given;
  const platform = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (platform !== undefined) return platform;
  const module = (await import(/* @vite-ignore */ WS_MODULE)) as {
    WebSocket?: WebSocketConstructor;
    default?: WebSocketConstructor;
  };
  const constructor = module.WebSocket ?? module.default;
  if (constructor === undefined) throw new Error('the ws package exports no WebSocket constructor');
  return constructor;
}
