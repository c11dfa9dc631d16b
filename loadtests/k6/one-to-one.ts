/**
 * One-to-one chat at a target rate: SWB_PAIRS pairs of users, each user sending to its peer
 * and receiving from it, SWB_RATE messages per second in total, 100-byte bodies. Measures
 * send-to-ack and send-to-deliver latency and checks that each message arrives once and in
 * order (see lib/delivery-tracker.ts).
 *
 *   k6 run -e SWB_API_URL=https://chat.example.com -e SWB_PAIRS=2000 -e SWB_RATE=4000 loadtests/k6/one-to-one.ts
 *
 * setup() logs every user in once and hands the tokens and node URLs to the virtual users, so
 * a run must end within the access token lifetime (SWB_ACCESS_TTL_SECONDS on the API, 900 s by
 * default) or connections close with 4001.
 *
 * Variables: SWB_PAIRS (default 100), SWB_RATE (messages per second over all users, default
 * 200), SWB_DURATION_SECONDS (sending time, default 60), SWB_DRAIN_SECONDS (wait for the last
 * deliveries, default 10), SWB_BODY_BYTES (default 100), SWB_SETUP_TIMEOUT_SECONDS (default
 * 600), and the account variables of lib/session.ts.
 */
import exec from 'k6/execution';
import type { Options } from 'k6/options';
import { readApiUrl, readInteger, readNumber } from './lib/env.ts';
import { runChatConnection } from './lib/chat-connection.ts';
import { openSession } from './lib/session.ts';
import { CONNECT_SUCCESS_RATE, SEND_TO_ACK_P99_MS, SEND_TO_DELIVER_P99_MS } from './lib/thresholds.ts';

const API_URL = readApiUrl();
const PAIRS = readInteger('SWB_PAIRS', 100, 1, 1_000_000);
const RATE = readNumber('SWB_RATE', 200, 0.01, 10_000_000);
const DURATION_SECONDS = readInteger('SWB_DURATION_SECONDS', 60, 1, 86_400);
const DRAIN_SECONDS = readInteger('SWB_DRAIN_SECONDS', 10, 1, 600);
const BODY_BYTES = readInteger('SWB_BODY_BYTES', 100, 16, 4096);
const SETUP_TIMEOUT_SECONDS = readInteger('SWB_SETUP_TIMEOUT_SECONDS', 600, 10, 86_400);
/** The node's default frame-rate limit (SWB_FRAMES_PER_SECOND); bursts may reach twice that. */
const NODE_FRAMES_PER_SECOND = readInteger('SWB_NODE_FRAMES_PER_SECOND', 50, 1, 100_000);

const USERS = PAIRS * 2;
const RATE_PER_USER = RATE / USERS;
if (RATE_PER_USER > NODE_FRAMES_PER_SECOND) {
  throw new Error(
    `SWB_RATE ${RATE} over ${USERS} users is ${RATE_PER_USER.toFixed(1)} messages per second per user, ` +
      `above the node's limit of ${NODE_FRAMES_PER_SECOND} (SWB_NODE_FRAMES_PER_SECOND); raise SWB_PAIRS`,
  );
}

export const options: Options = {
  setupTimeout: `${SETUP_TIMEOUT_SECONDS}s`,
  scenarios: {
    chat: {
      executor: 'per-vu-iterations',
      vus: USERS,
      iterations: 1,
      maxDuration: `${DURATION_SECONDS + DRAIN_SECONDS + 60}s`,
    },
  },
  thresholds: {
    swb_send_to_deliver_ms: [`p(99)<${SEND_TO_DELIVER_P99_MS}`],
    swb_send_to_ack_ms: [`p(99)<${SEND_TO_ACK_P99_MS}`],
    swb_connect_success: [`rate>${CONNECT_SUCCESS_RATE}`],
    swb_lost: ['count==0'],
    swb_duplicated: ['count==0'],
    swb_out_of_order: ['count==0'],
    swb_send_errors: ['count==0'],
  },
};

interface SetupData {
  users: Array<{ id: string; wsUrl: string }>;
}

export function setup(): SetupData {
  const users: SetupData['users'] = [];
  for (let index = 0; index < USERS; index++) {
    const session = openSession(API_URL, index);
    users.push({ id: session.id, wsUrl: session.wsUrl });
  }
  return { users };
}

export default function (data: SetupData): void {
  const index = exec.vu.idInTest - 1;
  const self = data.users[index]!;
  // Users 2p and 2p+1 form pair p.
  const peer = data.users[index ^ 1]!;
  runChatConnection({
    wsUrl: self.wsUrl,
    self: self.id,
    target: { to: peer.id },
    idPrefix: `k6-${exec.vu.idInTest}-${Date.now().toString(36)}`,
    ratePerSecond: RATE_PER_USER,
    sendSeconds: DURATION_SECONDS,
    drainSeconds: DRAIN_SECONDS,
    bodyBytes: BODY_BYTES,
    expectedSenders: 1,
  });
}
