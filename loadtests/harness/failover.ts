/**
 * Killed node: an embedded cluster with three chat nodes serves idle clients and sending
 * pairs, all of which connect through the router. While the pairs send, `node-1` crashes
 * (failover-server.ts). Its clients reconnect through the router with jittered backoff and
 * sync from their last position. The scenario measures when each finished and checks that
 * every acknowledged message reached its receiver once.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FailoverOutcome, FailoverUser } from './failover-clients.ts';
import { spawnUntil, stopChild } from './systems.ts';
import { splitEvenly, startWorkers } from './worker-pool.ts';

export interface FailoverOptions {
  idleConnections: number;
  pairs: number;
  /** Messages per second over all pairs while the node is killed. */
  rate: number;
  sendSeconds: number;
  crashAfterSeconds: number;
  workers: number;
}

export interface FailoverResult {
  chatNodes: number;
  clients: number;
  /** Connections the killed node held at the crash. */
  connectionsOnKilledNode: number;
  lostClients: number;
  resyncedClients: number;
  resyncP50Ms: number;
  resyncP99Ms: number;
  resyncMaxMs: number;
  sent: number;
  acked: number;
  lost: number;
  duplicated: number;
}

const CHAT_NODES = 3;
/** How long the scenario waits for the last client to resync before it reports a miss. */
const RESYNC_DEADLINE_MS = 90_000;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function register(apiUrl: string, username: string): Promise<FailoverUser> {
  const response = await fetch(`${apiUrl}/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: 'bench-password' }),
  });
  if (!response.ok)
    throw new Error(`register ${username} failed: ${response.status} ${await response.text()}`);
  const session = (await response.json()) as { user: { id: string }; accessToken: string };
  return { userId: session.user.id, token: session.accessToken };
}

/** Runs the scenario and stops every process it started. */
export async function runFailover(
  options: FailoverOptions,
  log: (line: string) => void,
): Promise<FailoverResult> {
  const secret = randomBytes(48).toString('base64url');
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-failover-'));
  let started: Awaited<ReturnType<typeof spawnUntil>>;
  try {
    started = await spawnUntil(
      'failover cluster',
      [process.execPath, '--import', 'tsx', 'loadtests/harness/failover-server.ts'],
      { SWB_TOKEN_SECRET: secret, SWB_DATA_DIR: dataDir, SWB_CHAT_NODES: String(CHAT_NODES) },
      /(\{"msg":"failover cluster ready".*\})\n/,
      120_000,
    );
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const { child, match } = started;
  const workers = startWorkers(options.workers, 40);
  try {
    const { apiUrl } = JSON.parse(match[1]!) as { apiUrl: string };
    const runId = Date.now().toString(36);
    const pairs: Array<{ sender: FailoverUser; receiver: FailoverUser }> = [];
    for (let i = 0; i < options.pairs; i++) {
      pairs.push({
        sender: await register(apiUrl, `fo${runId}s${i}`),
        receiver: await register(apiUrl, `fo${runId}r${i}`),
      });
    }
    const idle = Array.from({ length: options.idleConnections }, (_, i) => ({ userId: `fo${runId}i${i}` }));
    const idleShares = splitEvenly(idle, workers.length);
    const pairShares = splitEvenly(pairs, workers.length);
    const opened = await Promise.all(
      workers.map((worker, i) =>
        worker.request(
          {
            type: 'failover-open',
            routerUrl: apiUrl,
            tokenSecret: secret,
            idle: idleShares[i]!,
            pairs: pairShares[i]!,
            concurrency: 32,
          },
          'failover-opened',
          600_000,
        ),
      ),
    );
    const failedToOpen = opened.reduce((sum, reply) => sum + reply.failed, 0);
    if (failedToOpen > 0) {
      throw new Error(
        `${failedToOpen} clients failed to connect before the crash: ${opened.find((r) => r.firstError)?.firstError}`,
      );
    }
    log(
      `  failover: ${opened.reduce((sum, reply) => sum + reply.opened, 0)} clients connected over ${CHAT_NODES} chat nodes`,
    );

    const crashed = new Promise<{ connections: number }>((resolveCrash) => {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const line = /(\{"msg":"node crashed".*\})\n/.exec(output);
        if (line) resolveCrash(JSON.parse(line[1]!) as { connections: number });
      });
    });
    const sending = Promise.all(
      workers.map((worker) =>
        worker.request(
          {
            type: 'failover-send',
            rate: options.rate / workers.length,
            seconds: options.sendSeconds,
            label: `fo${runId}`,
          },
          'failover-sent',
          (options.sendSeconds + 60) * 1000,
        ),
      ),
    );
    await new Promise((resolveWait) => setTimeout(resolveWait, options.crashAfterSeconds * 1000));
    const crashAt = Date.now();
    child.kill('SIGUSR2');
    const { connections } = await crashed;
    log(`  failover: node-1 crashed with ${connections} connections`);
    await sending;

    const outcomes: FailoverOutcome[] = (
      await Promise.all(
        workers.map((worker) =>
          worker.request(
            { type: 'failover-finish', crashAt, deadlineMs: RESYNC_DEADLINE_MS },
            'failover-result',
            RESYNC_DEADLINE_MS + 120_000,
          ),
        ),
      )
    ).map((reply) => reply.outcome);
    const resync = outcomes.flatMap((outcome) => outcome.resyncMs).sort((a, b) => a - b);
    const sum = (pick: (outcome: FailoverOutcome) => number) =>
      outcomes.reduce((total, outcome) => total + pick(outcome), 0);
    return {
      chatNodes: CHAT_NODES,
      clients: sum((o) => o.clients),
      connectionsOnKilledNode: connections,
      lostClients: sum((o) => o.lostClients),
      resyncedClients: sum((o) => o.resyncedClients),
      resyncP50Ms: percentile(resync, 50),
      resyncP99Ms: percentile(resync, 99),
      resyncMaxMs: resync.at(-1) ?? 0,
      sent: sum((o) => o.sent),
      acked: sum((o) => o.acked),
      lost: sum((o) => o.lost),
      duplicated: sum((o) => o.duplicated),
    };
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await stopChild(child, 30_000);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
