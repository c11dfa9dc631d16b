/**
 * Load worker: a child process that keeps client connections open and runs the steps the
 * coordinator sends it over the IPC channel (see `worker-pool.ts`). Every connection of one
 * worker binds to the worker's own source address, so many workers never run out of
 * ephemeral ports.
 *
 * Requests and replies are the `WorkerRequest` and `WorkerReply` types below.
 */
import hdr from 'hdr-histogram-js';
import { TokenIssuer } from '@switchboard/core';
import { openChatClient, buildJsonFrameUrl, type ChatClient, type Endpoint } from './chat-clients.ts';
import {
  finishFailover,
  openFailoverClients,
  sendDuringFailover,
  type FailoverOpen,
  type FailoverOutcome,
} from './failover-clients.ts';
import { openRawWebSocket, type RawWebSocket } from './raw-websocket.ts';

export interface WorkerPair {
  sender: Endpoint;
  receiver: Endpoint;
}

/** Idle connections to open: users `<prefix><from>` to `<prefix><from + count - 1>`. */
export interface IdleTarget {
  protocol: 'switchboard' | 'relay';
  /** ws:// URL of the node or relay. */
  url: string;
  userPrefix: string;
  from: number;
  count: number;
  /** Token secret of the cluster; the worker signs one access token per user with it. */
  tokenSecret?: string;
}

export type WorkerRequest =
  | { type: 'connect'; pairs: WorkerPair[]; concurrency: number }
  | { type: 'step'; rate: number; seconds: number; drainMs: number; bodyBytes: number; label: string }
  | { type: 'idle'; targets: IdleTarget[]; concurrency: number }
  | { type: 'release' }
  | { type: 'idle-close' }
  | ({ type: 'failover-open' } & FailoverOpen)
  | { type: 'failover-send'; rate: number; seconds: number; label: string }
  | { type: 'failover-finish'; crashAt: number; deadlineMs: number }
  | { type: 'exit' };

/** Result of one offered-rate step of one worker. */
export interface WorkerStep {
  sent: number;
  acked: number;
  delivered: number;
  duplicated: number;
  outOfOrder: number;
  disconnects: number;
  sendSeconds: number;
  cpuSeconds: number;
  /** Latency histogram in microseconds, hdr-histogram-js's compressed base64 encoding. */
  histogram: string;
}

export type WorkerReply =
  | { type: 'connected'; connections: number }
  | { type: 'step'; result: WorkerStep }
  | {
      type: 'held';
      held: number;
      failed: number;
      retried: number;
      firstError: string | null;
      seconds: number;
    }
  | { type: 'released'; dropped: number; codes: Record<number, number> }
  | { type: 'failover-opened'; opened: number; failed: number; firstError: string | null }
  | { type: 'failover-sent'; sent: number }
  | { type: 'failover-result'; outcome: FailoverOutcome }
  | { type: 'failed'; message: string };

const LOCAL_ADDRESS = process.env.SWB_HARNESS_LOCAL_ADDRESS || undefined;
const now = () => performance.timeOrigin + performance.now();

interface PairState {
  sender: ChatClient;
  receiver: ChatClient;
  receiverId: string;
  senderId: string;
  lastCounter: number;
  seen: Set<number>;
}

let pairs: PairState[] = [];
let idle: RawWebSocket[] = [];
let disconnects = 0;
/** Close codes of idle connections that the server closed, and how many closed with each. */
const droppedCodes = new Map<number, number>();
let acked = 0;
let delivered = 0;
let duplicated = 0;
let outOfOrder = 0;
let histogram = buildHistogram();

function buildHistogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

function reply(message: WorkerReply): void {
  process.send!(message);
}

/** Runs `task` over `items` with at most `concurrency` in flight. */
async function runBounded<T>(
  items: T[],
  concurrency: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await task(items[next++]!);
  });
  await Promise.all(lanes);
}

/**
 * Opens a client, trying up to three times as a real client would retry: on the shared
 * machine one upgrade in a few thousand is cut before its welcome.
 */
async function openWithRetries(endpoint: Endpoint): Promise<ChatClient> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await openChatClient(endpoint, LOCAL_ADDRESS);
    } catch (err) {
      if (attempt >= 3) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

async function connectPairs(list: WorkerPair[], concurrency: number): Promise<number> {
  const states: PairState[] = [];
  await runBounded(list, concurrency, async (pair) => {
    const sender = await openWithRetries(pair.sender);
    const receiver = await openWithRetries(pair.receiver);
    const state: PairState = {
      sender,
      receiver,
      receiverId: pair.receiver.userId,
      senderId: pair.sender.userId,
      lastCounter: 0,
      seen: new Set(),
    };
    sender.onAck = () => acked++;
    sender.onClose = () => disconnects++;
    receiver.onClose = () => disconnects++;
    receiver.onMessage = (from, body) => receive(state, from, body);
    states.push(state);
  });
  pairs = states;
  return states.length * 2;
}

/** Checks one delivery: the body is `<send time>|<counter>#padding`, counters rise per pair. */
function receive(state: PairState, from: string, body: string): void {
  if (from !== state.senderId) return;
  const bar = body.indexOf('|');
  const counter = Number(body.slice(bar + 1, body.indexOf('#')));
  if (state.seen.has(counter)) {
    duplicated++;
    return;
  }
  state.seen.add(counter);
  if (counter < state.lastCounter) outOfOrder++;
  else state.lastCounter = counter;
  delivered++;
  const latencyUs = Math.round((now() - Number(body.slice(0, bar))) * 1000);
  histogram.recordValue(Math.max(1, latencyUs));
}

async function runStep(rate: number, seconds: number, drainMs: number, bodyBytes: number, label: string) {
  histogram = buildHistogram();
  acked = 0;
  delivered = 0;
  duplicated = 0;
  outOfOrder = 0;
  disconnects = 0;
  for (const pair of pairs) {
    pair.seen.clear();
    pair.lastCounter = 0;
  }
  const cpuBefore = process.cpuUsage();
  const padding = 'x'.repeat(bodyBytes);
  const started = now();
  const endAt = started + seconds * 1000;
  let sent = 0;
  let cursor = 0;
  while (now() < endAt) {
    const due = Math.floor(((now() - started) / 1000) * rate) - sent;
    for (let i = 0; i < due; i++) {
      const pair = pairs[cursor % pairs.length]!;
      cursor++;
      const head = `${now().toFixed(3)}|${cursor}#`;
      pair.sender.send(pair.receiverId, `${label}-${cursor}`, head + padding.slice(head.length));
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const sendSeconds = (now() - started) / 1000;
  // Wait for stragglers, bounded, so that a step that lost messages still ends.
  const drainUntil = now() + drainMs;
  while ((delivered < sent || acked < sent) && now() < drainUntil) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const cpu = process.cpuUsage(cpuBefore);
  const result: WorkerStep = {
    sent,
    acked,
    delivered,
    duplicated,
    outOfOrder,
    disconnects,
    sendSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    histogram: hdr.encodeIntoCompressedBase64(histogram),
  };
  return result;
}

const IDLE_CONNECT_ATTEMPTS = 3;

/** Opens one idle connection and resolves once the server's welcome arrived, as a client counts it. */
async function openIdle(endpoint: Endpoint): Promise<RawWebSocket> {
  const ws = await openRawWebSocket({
    url: buildJsonFrameUrl(endpoint),
    ...(LOCAL_ADDRESS ? { localAddress: LOCAL_ADDRESS } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no welcome within 30 s')), 30_000);
    ws.onText = (text) => {
      clearTimeout(timer);
      if (text.includes('"welcome"')) resolve();
      else reject(new Error(`expected welcome, got ${text.slice(0, 120)}`));
    };
    ws.onClose = (code) => {
      clearTimeout(timer);
      reject(new Error(`closed with ${code} before welcome`));
    };
  });
  ws.onText = () => {};
  ws.onClose = (code) => {
    disconnects++;
    droppedCodes.set(code, (droppedCodes.get(code) ?? 0) + 1);
  };
  return ws;
}

async function holdIdle(targets: IdleTarget[], concurrency: number) {
  const started = now();
  const jobs: Array<{ target: IdleTarget; user: string; issuer: TokenIssuer | null }> = [];
  for (const target of targets) {
    const issuer = target.tokenSecret
      ? new TokenIssuer({ secret: target.tokenSecret, accessTtlSeconds: 3600, refreshTtlSeconds: 3600 })
      : null;
    for (let i = target.from; i < target.from + target.count; i++) {
      jobs.push({ target, user: `${target.userPrefix}${i}`, issuer });
    }
  }
  let failed = 0;
  let retried = 0;
  let firstError: string | null = null;
  await runBounded(jobs, concurrency, async ({ target, user, issuer }) => {
    const endpoint: Endpoint = {
      protocol: target.protocol,
      url: target.url,
      userId: user,
      ...(issuer ? { token: await issuer.issueAccess(user) } : {}),
    };
    // A client retries a failed connect; three attempts keep one unlucky upgrade from
    // counting as a connection the server could not hold.
    for (let attempt = 1; attempt <= IDLE_CONNECT_ATTEMPTS; attempt++) {
      try {
        idle.push(await openIdle(endpoint));
        return;
      } catch (err) {
        if (attempt > 1) retried++;
        if (attempt < IDLE_CONNECT_ATTEMPTS) continue;
        failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  });
  return { held: idle.length, failed, retried, firstError, seconds: (now() - started) / 1000 };
}

process.on('message', (message: WorkerRequest) => {
  handle(message).catch((err: unknown) => {
    reply({ type: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  });
});

async function handle(message: WorkerRequest): Promise<void> {
  switch (message.type) {
    case 'connect':
      reply({ type: 'connected', connections: await connectPairs(message.pairs, message.concurrency) });
      return;
    case 'step': {
      const result = await runStep(
        message.rate,
        message.seconds,
        message.drainMs,
        message.bodyBytes,
        message.label,
      );
      reply({ type: 'step', result });
      return;
    }
    case 'idle':
      reply({ type: 'held', ...(await holdIdle(message.targets, message.concurrency)) });
      return;
    case 'idle-close':
      // Closes the idle connections opened so far, as the warm-up before a memory baseline.
      for (const ws of idle) ws.close();
      idle = [];
      droppedCodes.clear();
      reply({ type: 'released', dropped: 0, codes: {} });
      return;
    case 'release': {
      // Idle connections that closed on their own before the release were dropped by the server.
      const dropped = idle.filter((ws) => !ws.open).length;
      const codes = Object.fromEntries(droppedCodes);
      droppedCodes.clear();
      for (const pair of pairs) {
        pair.sender.close();
        pair.receiver.close();
      }
      for (const ws of idle) ws.close();
      pairs = [];
      idle = [];
      reply({ type: 'released', dropped, codes });
      return;
    }
    case 'failover-open':
      reply({ type: 'failover-opened', ...(await openFailoverClients(message)) });
      return;
    case 'failover-send':
      reply({
        type: 'failover-sent',
        sent: await sendDuringFailover(message.rate, message.seconds, message.label),
      });
      return;
    case 'failover-finish':
      reply({ type: 'failover-result', outcome: await finishFailover(message.crashAt, message.deadlineMs) });
      return;
    case 'exit':
      process.exit(0);
  }
}

// The coordinator going away (a crash, Ctrl+C) must not leave workers holding connections.
process.on('disconnect', () => process.exit(0));
