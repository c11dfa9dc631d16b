/**
 * Reconnect storm: SWB_CONNECTIONS users connect and note their sync position. Then every
 * connection is lost at once and each client reconnects through the router, as the SDK does:
 * ask `/v1/route`, open the socket, send `sync` from the saved position and page until
 * `more` is false. Measures the time from the loss to the end of that resync.
 *
 * Two ways to lose the connections (SWB_STORM_MODE):
 * - `client` (default): every client drops its own socket SWB_STORM_AFTER_SECONDS after the
 *   scenario started. This loads the router and the nodes with a burst of reconnects.
 * - `server`: clients wait up to SWB_HOLD_SECONDS for the node to drop them, while the
 *   operator kills or drains a chat node (for example `kubectl delete pod`). Only the users of
 *   that node reconnect, onto the nodes that the ring gives them next.
 *
 *   k6 run -e SWB_API_URL=https://chat.example.com -e SWB_CONNECTIONS=20000 -e SWB_STORM_MODE=server loadtests/k6/reconnect-storm.ts
 *
 * Variables: SWB_CONNECTIONS (default 1000), SWB_RAMP_SECONDS (default 60),
 * SWB_STORM_AFTER_SECONDS (client mode, default SWB_RAMP_SECONDS + 15), SWB_HOLD_SECONDS
 * (server mode, default 600), SWB_JITTER_MS (random delay before a reconnect, default 1000),
 * SWB_RECONNECT_ATTEMPTS (default 10), and the account variables of lib/session.ts.
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { readApiUrl, readInteger, readString } from './lib/env.ts';
import { encodeFrame, parseServerFrame } from './lib/frames.ts';
import { buildWsUrl, fetchRoute, openSession, type LoadUser } from './lib/session.ts';
import { CONNECT_SUCCESS_RATE, RESYNC_P100_MS } from './lib/thresholds.ts';

const API_URL = readApiUrl();
const CONNECTIONS = readInteger('SWB_CONNECTIONS', 1000, 1, 10_000_000);
const RAMP_SECONDS = readInteger('SWB_RAMP_SECONDS', 60, 1, 86_400);
const STORM_AFTER_SECONDS = readInteger('SWB_STORM_AFTER_SECONDS', RAMP_SECONDS + 15, 1, 86_400);
const HOLD_SECONDS = readInteger('SWB_HOLD_SECONDS', 600, 1, 86_400);
const JITTER_MS = readInteger('SWB_JITTER_MS', 1000, 0, 600_000);
const RECONNECT_ATTEMPTS = readInteger('SWB_RECONNECT_ATTEMPTS', 10, 1, 1000);
const MODE = readString('SWB_STORM_MODE', 'client');
if (MODE !== 'client' && MODE !== 'server') {
  throw new Error(`SWB_STORM_MODE must be client or server, got "${MODE}"`);
}

const connectSuccess = new Rate('swb_connect_success');
const reconnectSuccess = new Rate('swb_reconnect_success');
const resyncMs = new Trend('swb_resync_ms', true);
const resyncedEntries = new Counter('swb_resynced_entries');

const STORM_END_SECONDS = MODE === 'client' ? STORM_AFTER_SECONDS : HOLD_SECONDS;

export const options: Options = {
  scenarios: {
    storm: {
      executor: 'per-vu-iterations',
      vus: CONNECTIONS,
      iterations: 1,
      maxDuration: `${STORM_END_SECONDS + 120}s`,
    },
  },
  thresholds: {
    swb_connect_success: [`rate>${CONNECT_SUCCESS_RATE}`],
    swb_reconnect_success: [`rate>${CONNECT_SUCCESS_RATE}`],
    swb_resync_ms: [`max<${RESYNC_P100_MS}`],
  },
};

export default function (): void {
  const index = exec.vu.idInTest - 1;
  setTimeout(() => connectFirst(openSession(API_URL, index)), (index / CONNECTIONS) * RAMP_SECONDS * 1000);
}

/** Opens the first connection, notes the sync head and waits for the storm. */
function connectFirst(user: LoadUser): void {
  let head = -1;
  let stormStarted = false;
  const ws = new WebSocket(user.wsUrl);
  const startedAt = exec.scenario.startTime;

  ws.onmessage = (event) => {
    const frame = parseServerFrame(event?.data);
    if (head >= 0 || frame === null) return;
    if (!check(frame, { 'first frame is welcome': (f) => f.type === 'welcome' })) {
      connectSuccess.add(false);
      ws.close(1000);
      return;
    }
    head = frame.type === 'welcome' ? frame.head : 0;
    connectSuccess.add(true);
    if (MODE === 'client') {
      setTimeout(
        () => {
          stormStarted = true;
          ws.close(1000);
          reconnect(user, head, Date.now(), 1);
        },
        Math.max(0, startedAt + STORM_AFTER_SECONDS * 1000 - Date.now()),
      );
    } else {
      setTimeout(() => {
        if (!stormStarted) ws.close(1000);
      }, HOLD_SECONDS * 1000);
    }
  };
  ws.onclose = () => {
    if (head < 0) {
      connectSuccess.add(false);
      return;
    }
    if (MODE === 'server' && !stormStarted) {
      stormStarted = true;
      reconnect(user, head, Date.now(), 1);
    }
  };
}

/** Reconnects through the router after a random delay and resyncs from `after`. */
function reconnect(user: LoadUser, after: number, lostAt: number, attempt: number): void {
  setTimeout(
    () => {
      let route: { url: string };
      try {
        route = fetchRoute(API_URL, user.accessToken);
      } catch {
        retryOrFail(user, after, lostAt, attempt);
        return;
      }
      let position = after;
      let done = false;
      const ws = new WebSocket(buildWsUrl(route.url, user.accessToken));
      ws.onmessage = (event) => {
        const frame = parseServerFrame(event?.data);
        if (frame === null) return;
        if (frame.type === 'welcome') {
          ws.send(encodeFrame({ type: 'sync', after: position }));
        } else if (frame.type === 'sync') {
          resyncedEntries.add(frame.entries.length);
          position = frame.head;
          if (frame.more) {
            ws.send(encodeFrame({ type: 'sync', after: position }));
            return;
          }
          done = true;
          reconnectSuccess.add(true);
          resyncMs.add(Date.now() - lostAt);
          ws.close(1000);
        } else if (frame.type === 'error' && frame.retryable) {
          // The node may reply to sync with a retryable error while its persister catches up.
          setTimeout(() => ws.send(encodeFrame({ type: 'sync', after: position })), 200);
        }
      };
      ws.onclose = () => {
        // Closed before the resync finished (refused, redirected or dropped): try again from
        // the position reached so far.
        if (!done) retryOrFail(user, position, lostAt, attempt);
      };
    },
    Math.random() * JITTER_MS * Math.min(attempt, 8),
  );
}

function retryOrFail(user: LoadUser, after: number, lostAt: number, attempt: number): void {
  if (attempt >= RECONNECT_ATTEMPTS) {
    reconnectSuccess.add(false);
    return;
  }
  reconnect(user, after, lostAt, attempt + 1);
}
