/**
 * Group fan-out: SWB_GROUPS groups of SWB_GROUP_SIZE members; every member sends to its group
 * with `send` and `conv: 'g.<id>'` and receives every other member's messages. Measures
 * send-to-deliver latency over all deliveries and checks that each member gets each message
 * once and in order.
 *
 * NOTE: needs the group feature on the nodes. A node without it rejects every send to a `g.`
 * conversation with SWB_ERR_CONVERSATION_NOT_FOUND, and this script aborts at the first such
 * error instead of reporting empty latencies. The groups must exist before the run, created with
 * the group API: name their conversation ids in SWB_GROUP_CONVS (comma-separated, one per group),
 * or let them default to `g.<SWB_GROUP_PREFIX><n>`. Group n has the users `<SWB_USER_PREFIX><n *
 * SWB_GROUP_SIZE + m>` (m = 0 .. SWB_GROUP_SIZE - 1) as members. Groups large enough to get
 * `notice` frames instead of messages (push to notify, pull to serve) are counted in
 * `swb_notices` but not timed, since their bodies are pulled.
 *
 *   k6 run -e SWB_API_URL=https://chat.example.com -e SWB_GROUPS=100 -e SWB_GROUP_SIZE=50 loadtests/k6/group-fanout.ts
 *
 * Variables: SWB_GROUPS (default 10), SWB_GROUP_SIZE (default 20), SWB_GROUP_PREFIX (default
 * `k6g`), SWB_RATE (messages sent per second over all members, default 50; deliveries are
 * SWB_GROUP_SIZE - 1 times that), SWB_DURATION_SECONDS (default 60), SWB_DRAIN_SECONDS
 * (default 10), SWB_BODY_BYTES (default 100), SWB_GROUP_CONVS (see above), and the account
 * variables of lib/session.ts.
 */
import exec from 'k6/execution';
import type { Options } from 'k6/options';
import { readApiUrl, readInteger, readNumber, readString } from './lib/env.ts';
import { runChatConnection } from './lib/chat-connection.ts';
import { openSession } from './lib/session.ts';
import { CONNECT_SUCCESS_RATE, SEND_TO_ACK_P99_MS, SEND_TO_DELIVER_P99_MS } from './lib/thresholds.ts';

const API_URL = readApiUrl();
const GROUPS = readInteger('SWB_GROUPS', 10, 1, 1_000_000);
const GROUP_SIZE = readInteger('SWB_GROUP_SIZE', 20, 2, 100_000);
const GROUP_PREFIX = readString('SWB_GROUP_PREFIX', 'k6g');
const GROUP_CONVS = readString('SWB_GROUP_CONVS', '')
  .split(',')
  .filter((conv) => conv !== '');
if (GROUP_CONVS.length > 0 && GROUP_CONVS.length < GROUPS) {
  throw new Error(`SWB_GROUP_CONVS names ${GROUP_CONVS.length} groups, but SWB_GROUPS is ${GROUPS}`);
}
const RATE = readNumber('SWB_RATE', 50, 0.01, 10_000_000);
const DURATION_SECONDS = readInteger('SWB_DURATION_SECONDS', 60, 1, 86_400);
const DRAIN_SECONDS = readInteger('SWB_DRAIN_SECONDS', 10, 1, 600);
const BODY_BYTES = readInteger('SWB_BODY_BYTES', 100, 16, 4096);
const NODE_FRAMES_PER_SECOND = readInteger('SWB_NODE_FRAMES_PER_SECOND', 50, 1, 100_000);

const MEMBERS = GROUPS * GROUP_SIZE;
const RATE_PER_MEMBER = RATE / MEMBERS;
if (RATE_PER_MEMBER > NODE_FRAMES_PER_SECOND) {
  throw new Error(
    `SWB_RATE ${RATE} over ${MEMBERS} members is ${RATE_PER_MEMBER.toFixed(1)} messages per second per member, ` +
      `above the node's limit of ${NODE_FRAMES_PER_SECOND} (SWB_NODE_FRAMES_PER_SECOND); add groups or members`,
  );
}

export const options: Options = {
  scenarios: {
    fanout: {
      executor: 'per-vu-iterations',
      vus: MEMBERS,
      iterations: 1,
      maxDuration: `${DURATION_SECONDS + DRAIN_SECONDS + 120}s`,
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

export default function (): void {
  const index = exec.vu.idInTest - 1;
  const group = Math.floor(index / GROUP_SIZE);
  const session = openSession(API_URL, index);
  runChatConnection({
    wsUrl: session.wsUrl,
    self: session.id,
    target: { conv: GROUP_CONVS[group] ?? `g.${GROUP_PREFIX}${group}` },
    idPrefix: `k6g-${exec.vu.idInTest}-${Date.now().toString(36)}`,
    ratePerSecond: RATE_PER_MEMBER,
    sendSeconds: DURATION_SECONDS,
    drainSeconds: DRAIN_SECONDS,
    bodyBytes: BODY_BYTES,
    expectedSenders: GROUP_SIZE - 1,
    onError: (code, message) => {
      if (code === 'SWB_ERR_CONVERSATION_NOT_FOUND') {
        exec.test.abort(
          `group ${GROUP_CONVS[group] ?? `g.${GROUP_PREFIX}${group}`} is unknown to the node (${message}); ` +
            'this scenario needs the group feature and groups created before the run',
        );
      }
    },
  });
}
