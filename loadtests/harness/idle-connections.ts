/**
 * Idle connections: opens as many authenticated, idle WebSocket connections as asked (up to
 * 100,000 by default) spread over several chat-node processes and several client processes,
 * and measures chat-node resident memory per connection next to the bare relay's.
 *
 * Each chat node is its own embedded launcher with SWB_CHAT_NODES=1, on its own port and data
 * directory, sharing only the token secret, so every process keeps well under the 20,000
 * descriptors a process may open here. The workers sign the tokens with that secret instead of
 * logging 100,000 users in, because login runs scrypt and is slow on purpose. The node verifies
 * each token on upgrade exactly as it does for a logged-in user.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readCpuSeconds, readRssBytes } from './proc-stats.ts';
import { spawnUntil, stopChild } from './systems.ts';
import type { IdleTarget } from './load-worker.ts';
import { startWorkers, type LoadWorker } from './worker-pool.ts';

export interface IdleOptions {
  connections: number;
  /** Chat-node processes (embedded launchers with one chat node each). */
  nodes: number;
  /** Seconds to wait before each memory reading, so that the heap settles. */
  settleSeconds: number;
}

export interface IdleServerFigure {
  processes: number;
  /** Connections that reached `welcome` and were still open at the measurement. */
  held: number;
  failed: number;
  /** Connects that succeeded on a second or third attempt. */
  retried: number;
  /** Connections closed by the server after their welcome and before the release, which follows the measurement. */
  dropped: number;
  /** Close codes of the dropped connections, with their counts. */
  closeCodes?: Record<string, number>;
  firstError: string | null;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  /** (RSS with the connections - RSS without) / connections, in bytes. */
  bytesPerConnection: number;
  /** RSS growth over the second half of the connections / that half, in bytes. */
  bytesPerConnectionSecondHalf: number;
  /** Wall-clock seconds to open all connections. */
  connectSeconds: number;
  /** Server CPU seconds spent while connecting, per 1,000 connections. */
  cpuSecondsPer1000: number;
}

export interface IdleResult {
  requested: number;
  switchboard: IdleServerFigure;
  relay: IdleServerFigure;
}

interface Server {
  child: ChildProcess;
  url: string;
  dataDir?: string;
}

/** Descriptors each process keeps free for its own files, pipes and listeners. */
export const DESCRIPTOR_MARGIN = 2000;

/** Returns the hard limit on open descriptors of processes started from here (`ulimit -Hn`). */
export function readDescriptorLimit(): number {
  const output = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
  const limit = Number(output);
  // `unlimited`, or no shell: fall back to a common default rather than guess high.
  return Number.isInteger(limit) && limit > 0 ? limit : 65_536;
}

/** Runs the scenario and stops every process it started. */
export async function runIdleConnections(
  options: IdleOptions,
  log: (line: string) => void,
): Promise<IdleResult> {
  const perNode = Math.ceil(options.connections / options.nodes);
  const maxPerProcess = readDescriptorLimit() - DESCRIPTOR_MARGIN;
  if (perNode > maxPerProcess) {
    throw new Error(
      `${options.connections} connections over ${options.nodes} nodes is ${perNode} per process, above ` +
        `${maxPerProcess} (the descriptor limit less ${DESCRIPTOR_MARGIN}); raise SWB_BENCH_IDLE_NODES`,
    );
  }
  const secret = randomBytes(48).toString('base64url');
  const servers: Server[] = [];
  const workers: LoadWorker[] = [];
  try {
    for (let i = 0; i < options.nodes; i++) servers.push(await startEmbeddedNode(secret));
    const relay = await startRelayServer();
    servers.push(relay);
    log(`  idle: ${options.nodes} chat-node processes and one relay started`);

    // One worker per server process, each on its own source address: 127.0.0.20 and up.
    workers.push(...startWorkers(options.nodes + 1, 20));
    const nodeServers = servers.slice(0, options.nodes);
    const switchboard = await measure(nodeServers, workers.slice(0, options.nodes), (server, i) => ({
      protocol: 'switchboard' as const,
      url: server.url,
      userPrefix: `idle${i}-`,
      from: 0,
      count: Math.min(perNode, options.connections - perNode * i),
      tokenSecret: secret,
    }));
    log(
      `  idle: Switchboard held ${switchboard.held} (failed ${switchboard.failed}), ` +
        `${switchboard.bytesPerConnection} bytes per connection`,
    );
    const relayFigure = await measure([relay], workers.slice(options.nodes), () => ({
      protocol: 'relay' as const,
      url: relay.url,
      userPrefix: 'idle-relay-',
      from: 0,
      count: perNode,
    }));
    log(`  idle: relay held ${relayFigure.held}, ${relayFigure.bytesPerConnection} bytes per connection`);
    return { requested: options.connections, switchboard, relay: relayFigure };
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await Promise.all(servers.map((server) => stopChild(server.child)));
    for (const server of servers)
      if (server.dataDir) rmSync(server.dataDir, { recursive: true, force: true });
  }

  async function measure(
    group: Server[],
    groupWorkers: LoadWorker[],
    target: (server: Server, index: number) => IdleTarget,
  ): Promise<IdleServerFigure> {
    const pids = group.map((server) => server.child.pid!);
    const rss = () => pids.reduce((sum, pid) => sum + readRssBytes(pid), 0);
    const settle = () => new Promise((resolveWait) => setTimeout(resolveWait, options.settleSeconds * 1000));
    // Each worker opens its share in two halves, so that the growth over the second half can be
    // checked against the whole. A process's start-up garbage, collected while the first
    // connections open, lowers the whole-run figure but not the second half's.
    const open = (half: 0 | 1) =>
      Promise.all(
        groupWorkers.map((worker, i) => {
          const whole = target(group[i]!, i);
          const first = Math.floor(whole.count / 2);
          const part =
            half === 0
              ? { ...whole, count: first }
              : { ...whole, from: whole.from + first, count: whole.count - first };
          return worker.request({ type: 'idle', targets: [part], concurrency: 64 }, 'held', 900_000);
        }),
      );

    // Warm-up: open and close a tenth of the connections first, so that start-up garbage is
    // collected and lazily built structures exist before the baseline is read.
    await Promise.all(
      groupWorkers.map((worker, i) => {
        const whole = target(group[i]!, i);
        const warmUp = {
          ...whole,
          userPrefix: `${whole.userPrefix}warm-`,
          count: Math.ceil(whole.count / 10),
        };
        return worker.request({ type: 'idle', targets: [warmUp], concurrency: 64 }, 'held', 900_000);
      }),
    );
    await Promise.all(
      groupWorkers.map((worker) => worker.request({ type: 'idle-close' }, 'released', 120_000)),
    );
    await settle();
    const rssBefore = rss();
    const cpuBefore = pids.reduce((sum, pid) => sum + readCpuSeconds(pid), 0);
    const started = performance.now();
    const firstReplies = await open(0);
    const connectFirstSeconds = (performance.now() - started) / 1000;
    await settle();
    const rssHalf = rss();
    const heldHalf = firstReplies.reduce((sum, reply) => sum + reply.held, 0);
    const secondStarted = performance.now();
    const replies = await open(1);
    const connectSeconds = connectFirstSeconds + (performance.now() - secondStarted) / 1000;
    const cpu = pids.reduce((sum, pid) => sum + readCpuSeconds(pid), 0) - cpuBefore;
    await settle();
    const rssAfter = rss();

    // Replies carry the worker's running totals, so the second half's replies count everything.
    const held = replies.reduce((sum, reply) => sum + reply.held, 0);
    const failed = [...firstReplies, ...replies].reduce((sum, reply) => sum + reply.failed, 0);
    const retried = [...firstReplies, ...replies].reduce((sum, reply) => sum + reply.retried, 0);
    const released = await Promise.all(
      groupWorkers.map((worker) => worker.request({ type: 'release' }, 'released', 120_000)),
    );
    const dropped = released.reduce((sum, reply) => sum + reply.dropped, 0);
    const closeCodes: Record<string, number> = {};
    for (const reply of released) {
      for (const [code, count] of Object.entries(reply.codes))
        closeCodes[code] = (closeCodes[code] ?? 0) + count;
    }
    return {
      closeCodes,
      processes: group.length,
      held,
      failed,
      retried,
      dropped,
      firstError:
        [...firstReplies, ...replies].find((reply) => reply.firstError !== null)?.firstError ?? null,
      rssBeforeMiB: Math.round(rssBefore / 2 ** 20),
      rssAfterMiB: Math.round(rssAfter / 2 ** 20),
      bytesPerConnection: held === 0 ? 0 : Math.round((rssAfter - rssBefore) / held),
      bytesPerConnectionSecondHalf:
        held === heldHalf ? 0 : Math.round((rssAfter - rssHalf) / (held - heldHalf)),
      connectSeconds: Math.round(connectSeconds * 10) / 10,
      cpuSecondsPer1000: held === 0 ? 0 : Math.round((cpu / held) * 1000 * 100) / 100,
    };
  }
}

async function startEmbeddedNode(secret: string): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-idle-'));
  const started = spawnUntil(
    'embedded chat node',
    [process.execPath, '--import', 'tsx', 'services/launcher/src/main.ts'],
    {
      SWB_DATA_DIR: dataDir,
      SWB_HTTP_PORT: '0',
      SWB_CHAT_PORT_BASE: '0',
      SWB_CHAT_NODES: '1',
      SWB_TOKEN_SECRET: secret,
      SWB_ACCESS_TTL_SECONDS: '3600',
      SWB_LOG_LEVEL: 'warn',
    },
    /chat node node-1:\s+(\S+)/,
    120_000,
  );
  try {
    const { child, match } = await started;
    return { child, url: match[1]!, dataDir };
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

async function startRelayServer(): Promise<Server> {
  const { child, match } = await spawnUntil(
    'relay',
    [process.execPath, '--import', 'tsx', 'loadtests/peers/relay/relay-server.ts'],
    {},
    /"port":(\d+)/,
  );
  return { child, url: `ws://127.0.0.1:${match[1]}/ws` };
}
