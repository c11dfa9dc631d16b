/**
 * History paging through the API. Each virtual user logs in once and makes sure its one-to-one
 * conversation with its peer contains at least SWB_SEED_MESSAGES messages, sending them over the
 * WebSocket on its first iteration. It then repeatedly walks the history from the newest
 * message back with `GET /v1/conversations/:conv/messages`, following `nextCursor` for up to
 * SWB_MAX_PAGES pages of SWB_PAGE_SIZE messages.
 *
 *   k6 run -e SWB_API_URL=https://chat.example.com -e SWB_VUS=200 loadtests/k6/history-paging.ts
 *
 * Variables: SWB_VUS (default 50; user 2p pages the conversation with user 2p+1),
 * SWB_DURATION_SECONDS (default 60), SWB_PAGE_SIZE (default 20), SWB_MAX_PAGES (default 10),
 * SWB_SEED_MESSAGES (default 200), and the account variables of lib/session.ts.
 */
import { check, fail } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter } from 'k6/metrics';
import type { Options } from 'k6/options';
import { setInterval, clearInterval } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { readApiUrl, readInteger } from './lib/env.ts';
import { buildBody, encodeFrame, parseServerFrame } from './lib/frames.ts';
import { buildUsername, openSession, type LoadUser } from './lib/session.ts';
import { HISTORY_PAGE_P99_MS } from './lib/thresholds.ts';

const API_URL = readApiUrl();
const VUS = readInteger('SWB_VUS', 50, 2, 1_000_000);
const DURATION_SECONDS = readInteger('SWB_DURATION_SECONDS', 60, 1, 86_400);
const PAGE_SIZE = readInteger('SWB_PAGE_SIZE', 20, 1, 1000);
const MAX_PAGES = readInteger('SWB_MAX_PAGES', 10, 1, 10_000);
const SEED_MESSAGES = readInteger('SWB_SEED_MESSAGES', 200, 0, 100_000);
/** Seeding stays under the node's default frame-rate limit of 50 per second. */
const SEED_RATE_PER_SECOND = 20;

const pages = new Counter('swb_history_pages');
const messagesRead = new Counter('swb_history_messages');

export const options: Options = {
  scenarios: {
    history: { executor: 'constant-vus', vus: VUS, duration: `${DURATION_SECONDS}s` },
  },
  thresholds: {
    'http_req_duration{name:history}': [`p(99)<${HISTORY_PAGE_P99_MS}`],
    checks: ['rate>0.999'],
  },
};

interface PageResponse {
  messages: Array<{ seq: number }>;
  nextCursor: string | null;
}

// Module state is per virtual user in k6, so each keeps its own session and conversation.
let session: LoadUser | null = null;
let conversation = '';

export default function (): void {
  if (session === null) {
    const index = exec.vu.idInTest - 1;
    session = openSession(API_URL, index);
    const peerId = findUserId(session, buildUsername(index ^ 1));
    conversation = openDirectConversation(session, peerId);
    if (countMessages(session, conversation) < SEED_MESSAGES) {
      seed(session, peerId);
      return;
    }
  }
  walkHistory(session, conversation);
}

function authorized(user: LoadUser) {
  return { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json' };
}

function findUserId(user: LoadUser, username: string): string {
  const response = http.get(`${API_URL}/v1/users?prefix=${encodeURIComponent(username)}&limit=10`, {
    headers: authorized(user),
    tags: { name: 'users' },
  });
  const body = response.json() as unknown as { users?: Array<{ id: string; username: string }> };
  const match = body.users?.find((candidate) => candidate.username === username);
  if (match === undefined) {
    fail(`peer ${username} not found; run with SWB_REGISTER=1 and an even SWB_VUS so that both exist`);
  }
  return match.id;
}

function openDirectConversation(user: LoadUser, peerId: string): string {
  const response = http.post(`${API_URL}/v1/conversations/direct`, JSON.stringify({ userId: peerId }), {
    headers: authorized(user),
    tags: { name: 'direct' },
  });
  if (response.status !== 200 && response.status !== 201) {
    fail(`POST /v1/conversations/direct failed: HTTP ${response.status} ${String(response.body)}`);
  }
  return (response.json() as unknown as { id: string }).id;
}

function countMessages(user: LoadUser, conv: string): number {
  const response = http.get(`${API_URL}/v1/conversations/${encodeURIComponent(conv)}/messages?limit=1`, {
    headers: authorized(user),
    tags: { name: 'history-head' },
  });
  const page = response.json() as unknown as PageResponse;
  return page.messages[0]?.seq ?? 0;
}

/** Sends SEED_MESSAGES messages to the peer and waits for their acks. */
function seed(user: LoadUser, peerId: string): void {
  const ws = new WebSocket(user.wsUrl);
  let counter = 0;
  let acks = 0;
  ws.onmessage = (event) => {
    const frame = parseServerFrame(event?.data);
    if (frame?.type === 'welcome') {
      const interval = setInterval(() => {
        if (counter >= SEED_MESSAGES) {
          clearInterval(interval);
          return;
        }
        counter++;
        const id = `k6h-${exec.vu.idInTest}-${Date.now().toString(36)}-${counter}`;
        ws.send(encodeFrame({ type: 'send', id, to: peerId, body: buildBody(Date.now(), counter, 100) }));
      }, 1000 / SEED_RATE_PER_SECOND);
    } else if (frame?.type === 'ack') {
      acks++;
      if (acks >= SEED_MESSAGES) ws.close(1000);
    }
  };
}

/** Pages from the newest message back and checks that sequence numbers only go down. */
function walkHistory(user: LoadUser, conv: string): void {
  let cursor: string | null = null;
  let previousSeq = Number.MAX_SAFE_INTEGER;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query: string =
      cursor === null ? `limit=${PAGE_SIZE}` : `limit=${PAGE_SIZE}&cursor=${encodeURIComponent(cursor)}`;
    const response = http.get(`${API_URL}/v1/conversations/${encodeURIComponent(conv)}/messages?${query}`, {
      headers: authorized(user),
      tags: { name: 'history' },
    });
    const body = response.status === 200 ? (response.json() as unknown as PageResponse) : null;
    const ordered =
      body !== null &&
      body.messages.every((message) => {
        const descending = message.seq < previousSeq;
        previousSeq = message.seq;
        return descending;
      });
    check(response, {
      'history page is 200': (r) => r.status === 200,
      'history page is newest first without repeats': () => ordered,
    });
    if (body === null) return;
    pages.add(1);
    messagesRead.add(body.messages.length);
    cursor = body.nextCursor;
    if (cursor === null) return;
  }
}
