/**
 * The worker's side of the killed-node scenario: it keeps reconnecting clients (idle ones and
 * sending pairs), sends while a node is killed, and afterwards checks that every client
 * reconnected and resynced and that every acknowledged message reached its receiver once.
 */
import { TokenIssuer } from '@switchboard/core';
import { ResyncClient, type ResyncClientOptions } from './resync-client.ts';

export interface FailoverUser {
  userId: string;
  /** Access token; idle users without one get a token signed with the cluster's secret. */
  token?: string;
}

export interface FailoverOpen {
  routerUrl: string;
  tokenSecret: string;
  idle: FailoverUser[];
  pairs: Array<{ sender: FailoverUser; receiver: FailoverUser }>;
  concurrency: number;
}

export interface FailoverOutcome {
  clients: number;
  /** Clients whose connection was lost at least once. */
  lostClients: number;
  /** Of those, the clients that reconnected and finished their sync before the deadline. */
  resyncedClients: number;
  /** Milliseconds from the crash to each resync, for the clients that lost their connection. */
  resyncMs: number[];
  sent: number;
  acked: number;
  /** Acknowledged messages that never reached the receiver, live or by sync. */
  lost: number;
  /** Message ids delivered under two different sequence numbers: a second message was created. */
  duplicated: number;
}

interface PairState {
  sender: ResyncClient;
  receiver: ResyncClient;
  /** Sequence number under which each message id arrived at the receiver. */
  delivered: Map<string, string>;
  duplicated: number;
}

const localAddress = process.env.SWB_HARNESS_LOCAL_ADDRESS || undefined;
let idleClients: ResyncClient[] = [];
let pairs: PairState[] = [];
let sent = 0;

async function runBounded<T>(
  items: T[],
  concurrency: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

/** Opens every client through the router; returns how many connected and the first error. */
export async function openFailoverClients(
  job: FailoverOpen,
): Promise<{ opened: number; failed: number; firstError: string | null }> {
  const issuer = new TokenIssuer({
    secret: job.tokenSecret,
    accessTtlSeconds: 3600,
    refreshTtlSeconds: 3600,
  });
  let failed = 0;
  let firstError: string | null = null;
  const build = async (user: FailoverUser, onMessage?: ResyncClientOptions['onMessage']) =>
    new ResyncClient({
      userId: user.userId,
      token: user.token ?? (await issuer.issueAccess(user.userId)),
      routerUrl: job.routerUrl,
      ...(localAddress ? { localAddress } : {}),
      ...(onMessage ? { onMessage } : {}),
    });
  const start = async (client: ResyncClient) => {
    try {
      await client.start();
      return true;
    } catch (err) {
      failed++;
      firstError ??= err instanceof Error ? err.message : String(err);
      return false;
    }
  };

  await runBounded(job.pairs, job.concurrency, async (pair) => {
    const state: PairState = { sender: null!, receiver: null!, delivered: new Map(), duplicated: 0 };
    state.sender = await build(pair.sender);
    state.receiver = await build(pair.receiver, (from, id, conv, seq) => {
      if (from !== pair.sender.userId) return;
      const key = `${conv}#${seq}`;
      const previous = state.delivered.get(id);
      if (previous === undefined) state.delivered.set(id, key);
      else if (previous !== key) state.duplicated++;
    });
    if ((await start(state.sender)) && (await start(state.receiver))) pairs.push(state);
  });
  await runBounded(job.idle, job.concurrency, async (user) => {
    const client = await build(user);
    if (await start(client)) idleClients.push(client);
  });
  return { opened: idleClients.length + pairs.length * 2, failed, firstError };
}

/** Sends at `rate` messages per second over the pairs for `seconds`. */
export async function sendDuringFailover(rate: number, seconds: number, label: string): Promise<number> {
  const started = Date.now();
  let count = 0;
  while (Date.now() - started < seconds * 1000) {
    const due = Math.floor(((Date.now() - started) / 1000) * rate) - count;
    for (let i = 0; i < due; i++) {
      const pair = pairs[count % pairs.length]!;
      count++;
      pair.sender.send(pair.receiver.userId, `${label}-${count}`, `${Date.now()}|${count}#`.padEnd(100, 'x'));
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  sent += count;
  return count;
}

/**
 * Waits until every client that lost its connection resynced (or the deadline passed), lets
 * each receiver sync once more so that nothing still in flight is missed, then checks the
 * messages and stops every client.
 */
export async function finishFailover(crashAt: number, deadlineMs: number): Promise<FailoverOutcome> {
  const all = [...idleClients, ...pairs.flatMap((pair) => [pair.sender, pair.receiver])];
  const waitUntil = Date.now() + deadlineMs;
  const pending = () => all.filter((client) => client.lostAt > 0 && client.resyncedAt < client.lostAt);
  while (pending().length > 0 && Date.now() < waitUntil) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // Unacknowledged sends are resent on reconnect; give the last acks a bounded moment.
  const ackUntil = Date.now() + 10_000;
  const ackedCount = () => pairs.reduce((sum, pair) => sum + pair.sender.acked.size, 0);
  while (ackedCount() < sent && Date.now() < ackUntil)
    await new Promise((resolve) => setTimeout(resolve, 100));
  await Promise.all(
    pairs.map((pair) =>
      Promise.race([pair.receiver.syncNow(), new Promise<void>((resolve) => setTimeout(resolve, 10_000))]),
    ),
  );

  const lostClients = all.filter((client) => client.losses > 0);
  const resynced = lostClients.filter(
    (client) => client.resyncedAt >= client.lostAt && client.resyncedAt > 0,
  );
  let acked = 0;
  let lost = 0;
  let duplicated = 0;
  for (const pair of pairs) {
    acked += pair.sender.acked.size;
    for (const id of pair.sender.acked) if (!pair.delivered.has(id)) lost++;
    duplicated += pair.duplicated;
  }
  for (const client of all) client.stop();
  const outcome: FailoverOutcome = {
    clients: all.length,
    lostClients: lostClients.length,
    resyncedClients: resynced.length,
    resyncMs: resynced.map((client) => client.resyncedAt - crashAt),
    sent,
    acked,
    lost,
    duplicated,
  };
  idleClients = [];
  pairs = [];
  sent = 0;
  return outcome;
}
