/**
 * `make bench`: one-to-one throughput and send-to-deliver latency across a ladder of offered
 * rates, for Switchboard (embedded and cluster profiles) and three peers. The peers are a bare
 * uWebSockets.js relay, Socket.IO with the Redis adapter, and Centrifugo with the Redis engine
 * and history.
 * then idle connections per chat-node process, then a chat node killed under load, then a
 * CPU profile of a chat node under load.
 *
 * Writes docs/benchmarks.json (the figures that loadtests/capacity.ts reads),
 * docs/benchmarks.md and docs/benchmarks-p99.svg. A run in which any step lost, doubled or
 * reordered a message writes nothing and exits 1.
 *
 * Variables:
 *   SWB_BENCH_QUICK=1            smoke run: 3 rates of 3 s, 10 pairs, 2,000 idle connections
 *   SWB_BENCH_ONLY               comma-separated parts to run (relay, switchboard-embedded,
 *                                switchboard-cluster, socketio, centrifugo, idle, failover,
 *                                profile, cluster-profile, or report to only render the page again
 *                                from the results file); the
 *                                others keep their figures from the previous results file
 *   SWB_BENCH_RATES              offered rates in messages per second, comma-separated
 *   SWB_BENCH_STEP_SECONDS       seconds per rate (default 8)
 *   SWB_BENCH_PAIRS              sender/receiver pairs (default 40)
 *   SWB_BENCH_WORKERS            load worker processes (default 2)
 *   SWB_BENCH_IDLE_CONNECTIONS   idle connections to open (default 100000)
 *   SWB_BENCH_IDLE_NODES         chat-node processes for them (default: as few as the
 *                                descriptor limit allows, at least 2)
 *   SWB_BENCH_FAILOVER_CONNECTIONS  idle clients in the killed-node run (default 9000)
 *   SWB_BENCH_OUTPUT_DIR         where the three files go (default docs)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { profileCluster } from './harness/cluster-profile.ts';
import { runFailover } from './harness/failover.ts';
import { probeFsync } from './harness/fsync-probe.ts';
import { DESCRIPTOR_MARGIN, readDescriptorLimit, runIdleConnections } from './harness/idle-connections.ts';
import {
  connectPairs,
  isBroken,
  runInterleavedLadders,
  runLadder,
  type LadderEntry,
  type LadderOptions,
} from './harness/ladder.ts';
import {
  attachSwitchboardEmbedded,
  BENCH_POLICY_ENV,
  spawnUntil,
  startCentrifugo,
  startRelay,
  startSocketIo,
  startSwitchboardCluster,
  startSwitchboardEmbedded,
  stopChild,
  type SystemUnderTest,
} from './harness/systems.ts';
import { startWorkers } from './harness/worker-pool.ts';
import { summariseProfile } from './report/cpu-profile.ts';
import { renderBenchmarks, type BenchResults, type SystemResult } from './report/benchmarks-report.ts';
import { renderLogLogPlot } from './report/svg-plot.ts';

const ROOT = resolve(import.meta.dirname, '..');
const QUICK = process.env.SWB_BENCH_QUICK === '1';
const OUTPUT_DIR = resolve(ROOT, process.env.SWB_BENCH_OUTPUT_DIR ?? 'docs');
const JSON_PATH = join(OUTPUT_DIR, 'benchmarks.json');
const REDIS_URL = 'redis://127.0.0.1:6390';
const CENTRIFUGO_VERSION = 'v6.9.1';

const ALL_PARTS = [
  'relay',
  'switchboard-embedded',
  'switchboard-cluster',
  'socketio',
  'centrifugo',
  'idle',
  'failover',
  'profile',
  'cluster-profile',
  'report',
] as const;
type Part = (typeof ALL_PARTS)[number];
/** Parts that a plain `make bench` runs: all but `report`. */
const MEASURED_PARTS = ALL_PARTS.filter((part) => part !== 'report');

/** Names of the systems for tables when a system did not start and has no label of its own. */
const PART_LABELS: Record<Part, string> = {
  relay: 'bare uWS relay',
  'switchboard-embedded': 'Switchboard embedded',
  'switchboard-cluster': 'Switchboard cluster',
  socketio: 'Socket.IO + Redis adapter',
  centrifugo: 'Centrifugo + Redis, history',
  idle: 'idle connections',
  failover: 'killed node',
  profile: 'CPU profile',
  'cluster-profile': 'cluster profile breakdown',
  report: 'report',
};

function readList(name: string, fallback: string): number[] {
  const values = (process.env[name] ?? fallback).split(',').map(Number);
  if (values.some((value) => !Number.isFinite(value) || value <= 0)) {
    throw new Error(`${name} must be comma-separated positive numbers, got "${process.env[name]}"`);
  }
  return values;
}

function readCount(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

const SETTINGS = {
  rates: readList(
    'SWB_BENCH_RATES',
    QUICK ? '500,1000,2000' : '500,1000,2000,3000,4000,6000,8000,12000,16000,24000',
  ),
  stepSeconds: readCount('SWB_BENCH_STEP_SECONDS', QUICK ? 3 : 8),
  pairs: readCount('SWB_BENCH_PAIRS', QUICK ? 10 : 40),
  workers: readCount('SWB_BENCH_WORKERS', 2),
  bodyBytes: 100,
  idleConnections: readCount('SWB_BENCH_IDLE_CONNECTIONS', QUICK ? 2000 : 100_000),
  // Default: as few chat-node processes as the descriptor limit allows, and at least two.
  idleNodes: readCount(
    'SWB_BENCH_IDLE_NODES',
    Math.max(2, Math.ceil((QUICK ? 2000 : 100_000) / (readDescriptorLimit() - DESCRIPTOR_MARGIN))),
  ),
  failoverConnections: readCount('SWB_BENCH_FAILOVER_CONNECTIONS', QUICK ? 600 : 9000),
};

const ONLY = new Set<Part>(
  (process.env.SWB_BENCH_ONLY ?? MEASURED_PARTS.join(','))
    .split(',')
    .map((part) => part.trim())
    .filter((part): part is Part => {
      if ((ALL_PARTS as readonly string[]).includes(part)) return true;
      throw new Error(`SWB_BENCH_ONLY: unknown part "${part}"; known: ${ALL_PARTS.join(', ')}`);
    }),
);

const LADDER: LadderOptions = {
  rates: SETTINGS.rates,
  stepSeconds: SETTINGS.stepSeconds,
  stopAboveP99Ms: 200,
  bodyBytes: SETTINGS.bodyBytes,
  drainMs: 10_000,
};

const log = (line: string) => process.stderr.write(line + '\n');

function describeMachine(): BenchResults['machine'] {
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAverageAtStart: loadavg().map((value) => Math.round(value * 100) / 100),
  };
}

/** Returns true when something accepts TCP connections on 127.0.0.1:`port`. */
function isListening(port: number): Promise<boolean> {
  return new Promise((resolveCheck) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolveCheck(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolveCheck(false);
    });
    socket.once('error', () => resolveCheck(false));
  });
}

/** Engines the cluster profile needs besides Redis, with the port each one listens on. */
const CLUSTER_ENGINES: Array<[string, number]> = [
  ['deploy/local/kafka.sh', 9092],
  ['deploy/local/cassandra.sh', 9042],
];

/**
 * Starts engines with the project's script unless their ports already accept connections, and returns
 * true when it started them, so that the bench stops only what it started. Engines that
 * another process runs on the same ports are used as they are.
 */
async function ensureEngines(script: string, ports: number[]): Promise<boolean> {
  const listening = await Promise.all(ports.map((port) => isListening(port)));
  if (listening.every(Boolean)) return false;
  execFileSync(script, ['up'], { cwd: ROOT, stdio: 'inherit' });
  return true;
}

/**
 * Starts every planned system, connects its pairs through its own workers, runs all ladders
 * interleaved by rate, and stops everything. A system that fails to start is recorded as
 * skipped with the reason.
 */
async function measureSystems(
  plans: Array<[Part, () => Promise<SystemUnderTest>]>,
): Promise<Record<string, SystemResult>> {
  const results: Record<string, SystemResult> = {};
  const entries: LadderEntry[] = [];
  const connections = new Map<string, number>();
  try {
    for (const [part, start] of plans) {
      log(`starting ${part}`);
      try {
        const system = await start();
        // Each system gets its own source addresses: 127.0.0.2 and 127.0.0.3 for the first, and so on.
        const workers = startWorkers(SETTINGS.workers, 2 + entries.length * SETTINGS.workers);
        entries.push({ system, workers });
        connections.set(system.key, await connectPairs(system, workers));
        log(`  ${system.label}: ${connections.get(system.key)} connections over ${workers.length} workers`);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`  ${part} skipped: ${message}`);
        results[part] = {
          label: PART_LABELS[part],
          measuredAt: new Date().toISOString(),
          steps: [],
          skipped: message,
        };
      }
    }
    const ladders = await runInterleavedLadders(entries, LADDER, log);
    for (const { system } of entries) {
      results[system.key] = {
        label: system.label,
        measuredAt: new Date().toISOString(),
        connections: connections.get(system.key) ?? 0,
        steps: ladders.get(system.key) ?? [],
      };
    }
    return results;
  } finally {
    for (const { system, workers } of entries) {
      await Promise.all(workers.map((worker) => worker.stop()));
      await system.stop();
    }
  }
}

/** Profiles the embedded profile's process at `rate` for one step with `node --cpu-prof`. */
async function profileEmbedded(rate: number): Promise<BenchResults['profile']> {
  const profileDir = mkdtempSync(join(tmpdir(), 'switchboard-profile-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-profile-data-'));
  try {
    const { child, match } = await spawnUntil(
      'profiled embedded cluster',
      [
        process.execPath,
        '--cpu-prof',
        `--cpu-prof-dir=${profileDir}`,
        '--import',
        'tsx',
        'services/launcher/src/main.ts',
      ],
      { ...BENCH_POLICY_ENV, SWB_DATA_DIR: dataDir, SWB_HTTP_PORT: '0', SWB_CHAT_PORT_BASE: '0' },
      /API and router:\s+(\S+)/,
    );
    const workers = startWorkers(SETTINGS.workers);
    try {
      const system = await attachSwitchboardEmbedded(match[1]!, child, SETTINGS.pairs, async () => {});
      await connectPairs(system, workers);
      await runLadder(system, workers, { ...LADDER, rates: [rate] }, log);
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
      // node --cpu-prof writes the profile when the process exits, so it must exit cleanly.
      await stopChild(child, 30_000);
    }
    const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`node --cpu-prof wrote no profile into ${profileDir}`);
    const summary = summariseProfile(JSON.parse(readFileSync(join(profileDir, file), 'utf8')), 15);
    return { system: 'switchboard-embedded', offeredPerSecond: rate, ...summary };
  } finally {
    rmSync(profileDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function loadPrevious(): BenchResults | null {
  if (!existsSync(JSON_PATH)) return null;
  return JSON.parse(readFileSync(JSON_PATH, 'utf8')) as BenchResults;
}

async function main(): Promise<void> {
  if (ONLY.has('report')) {
    // Measures nothing: renders the page and the plot again from the results file.
    const stored = loadPrevious();
    if (stored === null) throw new Error(`${JSON_PATH} does not exist; run make bench first`);
    publish(stored);
    return;
  }
  const previous = ONLY.size < MEASURED_PARTS.length ? loadPrevious() : null;
  const results: BenchResults = {
    generatedAt: new Date().toISOString(),
    command:
      ONLY.size < MEASURED_PARTS.length ? `SWB_BENCH_ONLY=${[...ONLY].join(',')} make bench` : 'make bench',
    quick: QUICK,
    machine: describeMachine(),
    settings: { ...SETTINGS, stepSecondsPerRate: SETTINGS.stepSeconds },
    systems: { ...(previous?.systems ?? {}) },
    ...(previous?.idle ? { idle: previous.idle } : {}),
    ...(previous?.failover ? { failover: previous.failover } : {}),
    ...(previous?.fsyncBefore ? { fsyncBefore: previous.fsyncBefore } : {}),
    ...(previous?.fsyncAfter ? { fsyncAfter: previous.fsyncAfter } : {}),
    ...(previous?.profile ? { profile: previous.profile } : {}),
    ...(previous?.clusterProfile ? { clusterProfile: previous.clusterProfile } : {}),
  };

  const startedEngines: string[] = [];
  const clusterEngines: string[] = [];
  const startClusterEngines = async (): Promise<void> => {
    for (const [script, port] of CLUSTER_ENGINES) {
      if (await ensureEngines(script, [port])) clusterEngines.push(script);
    }
  };
  const stopClusterEngines = (): void => {
    for (const script of clusterEngines.splice(0).reverse()) {
      spawnSync(script, ['down'], { cwd: ROOT, stdio: 'inherit' });
    }
  };
  try {
    const needRedis = ONLY.has('socketio') || ONLY.has('centrifugo') || ONLY.has('switchboard-cluster');
    if (needRedis && (await ensureEngines('deploy/local/redis.sh', [6390]))) {
      startedEngines.push('deploy/local/redis.sh');
    }
    const plans: Array<[Part, () => Promise<SystemUnderTest>]> = [
      ['relay', () => startRelay(SETTINGS.pairs)],
      ['switchboard-embedded', () => startSwitchboardEmbedded(SETTINGS.pairs)],
      ['switchboard-cluster', () => startSwitchboardCluster(SETTINGS.pairs)],
      ['socketio', () => startSocketIo(SETTINGS.pairs, REDIS_URL)],
      [
        'centrifugo',
        async () => {
          const binary = execFileSync('loadtests/peers/centrifugo/install.sh', [], {
            cwd: ROOT,
            env: { ...process.env, CENTRIFUGO_VERSION },
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'inherit'],
          }).trim();
          return startCentrifugo(SETTINGS.pairs, binary, REDIS_URL);
        },
      ],
    ];
    const selected = plans.filter(([part]) => ONLY.has(part));
    const peers = selected.filter(([part]) => part !== 'switchboard-cluster');
    const cluster = selected.filter(([part]) => part === 'switchboard-cluster');
    if (selected.length > 0) {
      results.fsyncBefore = probeFsync(200);
      if (peers.length > 0) {
        // Kafka and Cassandra take CPU even when idle, which on a small machine shows up in every
        // other system's tail, so they run only for the cluster profile's own ladder.
        const engines = (await Promise.all([isListening(9092), isListening(9042)])).some(Boolean);
        results.clusterEnginesDuringPeers = engines;
        if (engines) log('warning: Kafka or Cassandra is running and shares the machine with every ladder');
        Object.assign(results.systems, await measureSystems(peers));
      }
      if (cluster.length > 0) {
        await startClusterEngines();
        Object.assign(results.systems, await measureSystems(cluster));
      }
      results.fsyncAfter = probeFsync(200);
      log(
        `fdatasync p99 ${results.fsyncBefore.p99Ms} ms before the ladders, ${results.fsyncAfter.p99Ms} ms after`,
      );
    }

    const broken = Object.entries(results.systems).flatMap(([key, system]) =>
      system.steps.filter(isBroken).map((step) => ({ key, step })),
    );
    if (broken.length > 0) {
      throw new Error(
        `refusing to publish: ${broken.length} step(s) lost, doubled or reordered messages:\n` +
          broken.map(({ key, step }) => `  ${key}: ${JSON.stringify(step)}`).join('\n'),
      );
    }
    // Each part publishes as soon as it passed its checks, so a later part that fails (a
    // server that does not start) does not throw away figures already measured.
    if (selected.length > 0) publish(results);

    if (ONLY.has('cluster-profile')) {
      await startClusterEngines();
      // 1,000 msg/s is the rate at which the page compares CPU per message.
      const rate = SETTINGS.rates.includes(1000) ? 1000 : SETTINGS.rates[0]!;
      log(`profiling the cluster profile at ${rate} msg/s`);
      try {
        const profile = await profileCluster(
          rate,
          { pairs: SETTINGS.pairs, workers: SETTINGS.workers, ladder: LADDER },
          log,
        );
        if (isBroken(profile.step)) {
          throw new Error(
            `the profiled step lost, doubled or reordered messages: ${JSON.stringify(profile.step)}`,
          );
        }
        results.clusterProfile = { ...profile, measuredAt: new Date().toISOString() };
        publish(results);
      } catch (err) {
        // The breakdown explains figures but is not one; a failed run keeps the previous one.
        log(
          `  cluster profile failed, the previous one stays: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    // Stopped before the idle, failover and profile runs, for the same reason as above.
    stopClusterEngines();

    if (ONLY.has('idle')) {
      log(`measuring ${SETTINGS.idleConnections} idle connections over ${SETTINGS.idleNodes} chat nodes`);
      const idle = await runIdleConnections(
        { connections: SETTINGS.idleConnections, nodes: SETTINGS.idleNodes, settleSeconds: QUICK ? 2 : 10 },
        log,
      );
      results.idle = { ...idle, measuredAt: new Date().toISOString() };
      publish(results);
    }

    if (ONLY.has('failover')) {
      log(`killing a chat node that holds about a third of ${SETTINGS.failoverConnections} connections`);
      const failover = await runFailover(
        {
          idleConnections: SETTINGS.failoverConnections,
          pairs: QUICK ? 10 : 30,
          rate: 150,
          sendSeconds: QUICK ? 15 : 25,
          crashAfterSeconds: 5,
          workers: 3,
        },
        log,
      );
      log(`  failover: ${JSON.stringify(failover)}`);
      if (failover.lost > 0 || failover.duplicated > 0) {
        throw new Error(
          `refusing to publish: the killed-node run lost or doubled messages: ${JSON.stringify(failover)}`,
        );
      }
      results.failover = { ...failover, measuredAt: new Date().toISOString() };
      publish(results);
    }

    if (ONLY.has('profile')) {
      // Profile under load but short of collapse: the highest rate at which the median still
      // stayed under 50 ms and nearly everything was delivered, which is where the tail that
      // misses the target has to be found.
      const steps = results.systems['switchboard-embedded']?.steps ?? [];
      const loaded = steps
        .filter((step) => step.p50Ms < 50 && step.deliveredPerSecond >= step.offeredPerSecond * 0.95)
        .at(-1);
      const rate = loaded?.offeredPerSecond ?? SETTINGS.rates[0]!;
      log(`profiling the embedded profile at ${rate} msg/s`);
      try {
        results.profile = await profileEmbedded(rate);
        publish(results);
      } catch (err) {
        // The profile explains figures but is not one; a failed profile keeps the rest.
        log(`  profile failed, the previous one stays: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } finally {
    stopClusterEngines();
    for (const script of startedEngines.reverse()) {
      spawnSync(script, ['down'], { cwd: ROOT, stdio: 'inherit' });
    }
  }
}

/** Writes docs/benchmarks.json, the markdown page and the plot from `results`. */
function publish(results: BenchResults): void {
  writeFileSync(JSON_PATH, JSON.stringify(results, null, 2) + '\n');
  const plot = renderLogLogPlot(
    Object.values(results.systems).map((system) => ({
      label: system.label,
      points: system.steps.map((step) => ({ x: step.offeredPerSecond, y: step.p99Ms })),
    })),
    {
      title: 'One-to-one send-to-deliver p99 against offered rate',
      xLabel: 'offered messages per second',
      yLabel: 'p99 latency, ms',
      reference: { y: 50, label: 'target: 50 ms' },
    },
  );
  writeFileSync(join(OUTPUT_DIR, 'benchmarks-p99.svg'), plot);
  const markdownPath = join(OUTPUT_DIR, 'benchmarks.md');
  const current = existsSync(markdownPath) ? readFileSync(markdownPath, 'utf8') : '';
  writeFileSync(markdownPath, renderBenchmarks(results, current));
  log(`wrote ${JSON_PATH}, ${markdownPath} and the plot`);
}

main().catch((err: unknown) => {
  log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
