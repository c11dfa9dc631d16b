/**
 * Connect and idle: every virtual user logs in, requests its node from the router, opens one
 * WebSocket and waits for `welcome`. It then keeps the connection open without sending frames
 * for SWB_HOLD_SECONDS, replying to the node's WebSocket pings. Measures connection success and
 * time to `welcome` while the fleet fills up to SWB_CONNECTIONS connections.
 *
 *   k6 run -e SWB_API_URL=https://chat.example.com -e SWB_CONNECTIONS=20000 loadtests/k6/connect-idle.ts
 *
 * Variables: SWB_CONNECTIONS (virtual users, one connection each, default 1000),
 * SWB_RAMP_SECONDS (time to open them all, default 120), SWB_HOLD_SECONDS (default 300), and
 * the account variables of lib/session.ts (SWB_USER_PREFIX, SWB_PASSWORD, SWB_REGISTER,
 * SWB_USER_OFFSET, SWB_NODE).
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { readApiUrl, readInteger } from './lib/env.ts';
import { parseServerFrame } from './lib/frames.ts';
import { openSession } from './lib/session.ts';
import { CONNECT_P99_MS, CONNECT_SUCCESS_RATE } from './lib/thresholds.ts';

const API_URL = readApiUrl();
const CONNECTIONS = readInteger('SWB_CONNECTIONS', 1000, 1, 10_000_000);
const RAMP_SECONDS = readInteger('SWB_RAMP_SECONDS', 120, 1, 86_400);
const HOLD_SECONDS = readInteger('SWB_HOLD_SECONDS', 300, 1, 86_400);

const connectSuccess = new Rate('swb_connect_success');
const connectMs = new Trend('swb_connect_ms', true);
const droppedEarly = new Counter('swb_dropped_early');

export const options: Options = {
  scenarios: {
    idle: {
      executor: 'per-vu-iterations',
      vus: CONNECTIONS,
      iterations: 1,
      // Each virtual user waits its own share of the ramp before connecting, so the fleet
      // gets a steady connection rate instead of one burst.
      maxDuration: `${RAMP_SECONDS + HOLD_SECONDS + 60}s`,
      gracefulStop: '30s',
    },
  },
  thresholds: {
    swb_connect_success: [`rate>${CONNECT_SUCCESS_RATE}`],
    swb_connect_ms: [`p(99)<${CONNECT_P99_MS}`],
    swb_dropped_early: ['count==0'],
  },
};

export default function (): void {
  const index = exec.vu.idInTest - 1;
  const delayMs = (index / CONNECTIONS) * RAMP_SECONDS * 1000;
  setTimeout(() => holdConnection(index), delayMs);
}

function holdConnection(index: number): void {
  const session = openSession(API_URL, index);
  const openedAt = Date.now();
  let state: 'connecting' | 'open' | 'failed' | 'closing' = 'connecting';
  const ws = new WebSocket(session.wsUrl);

  const fail = () => {
    if (state !== 'connecting') return;
    state = 'failed';
    connectSuccess.add(false);
  };
  ws.onmessage = (event) => {
    if (state !== 'connecting') return;
    const frame = parseServerFrame(event?.data);
    const welcomed = check(frame, { 'first frame is welcome': (f) => f?.type === 'welcome' });
    if (!welcomed) {
      fail();
      ws.close(1000);
      return;
    }
    state = 'open';
    connectMs.add(Date.now() - openedAt);
    connectSuccess.add(true);
    setTimeout(() => {
      state = 'closing';
      ws.close(1000);
    }, HOLD_SECONDS * 1000);
  };
  ws.onerror = fail;
  ws.onclose = () => {
    if (state === 'connecting') fail();
    else if (state === 'open') droppedEarly.add(1);
  };
}
