/**
 * `make bench`: one-to-one throughput and send-to-deliver latency across two chat nodes of
 * the embedded profile.
 *
 * Starts the embedded cluster as a child process on free loopback ports, registers pairs
 * of users whose owners are different chat nodes, and runs the load generator in a second
 * process at rising offered rates. Writes the results into docs/benchmarks.md, and refuses
 * to publish a run that lost, doubled or reordered a message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { StepResult, WorkerInput, WorkerPair } from './harness/one-to-one-worker.ts';

const ROOT = resolve(import.meta.dirname, '..');
const PAIRS = Number(process.env.SWB_BENCH_PAIRS ?? 20);
const STEP_SECONDS = Number(process.env.SWB_BENCH_STEP_SECONDS ?? 8);
const RATES = (process.env.SWB_BENCH_RATES ?? '500,1000,2000,3000,4000,6000,8000,12000')
  .split(',')
  .map(Number);
const OUTPUT = process.env.SWB_BENCH_OUTPUT ?? join(ROOT, 'docs/benchmarks.md');

interface ClusterProcess {
  child: ChildProcess;
  apiUrl: string;
}

async function startCluster(dataDir: string): Promise<ClusterProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/launcher/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      SWB_DATA_DIR: dataDir,
      SWB_HTTP_PORT: '0',
      SWB_CHAT_PORT_BASE: '0',
      SWB_LOG_LEVEL: 'warn',
      // Each bench sender sends far more than a person; the default limit is 50 frames/s.
      SWB_FRAMES_PER_SECOND: '100000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const apiUrl = await new Promise<string>((resolveUrl, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`cluster did not start in 60 s:\n${output}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /API and router:\s+(\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`cluster exited with ${code}:\n${output}`)));
  });
  return { child, apiUrl };
}

async function post(url: string, body: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${url} failed: ${response.status} ${await response.text()}`);
  return response.json();
}

interface BenchUser {
  id: string;
  token: string;
  url: string;
  node: string;
}

async function registerUser(apiUrl: string, name: string): Promise<BenchUser> {
  const session = (await post(`${apiUrl}/v1/auth/register`, {
    username: name,
    password: 'bench-password',
  })) as {
    user: { id: string };
    accessToken: string;
  };
  const response = await fetch(`${apiUrl}/v1/route`, {
    headers: { authorization: `Bearer ${session.accessToken}` },
  });
  const route = (await response.json()) as { url: string; node: string };
  return { id: session.user.id, token: session.accessToken, url: route.url, node: route.node };
}

/** Pairs users so that every sender and its receiver live on different chat nodes. */
async function buildPairs(apiUrl: string, count: number): Promise<WorkerPair[]> {
  const byNode = new Map<string, BenchUser[]>();
  let registered = 0;
  const ready = () => {
    const sizes = [...byNode.values()].map((users) => users.length).sort((a, b) => b - a);
    return sizes.length >= 2 && sizes[1]! >= count;
  };
  while (!ready()) {
    if (registered > count * 6) throw new Error('users do not spread over two chat nodes');
    const user = await registerUser(apiUrl, `bench${registered++}`);
    byNode.set(user.node, [...(byNode.get(user.node) ?? []), user]);
  }
  const [left, right] = [...byNode.values()].sort((a, b) => b.length - a.length) as [
    BenchUser[],
    BenchUser[],
  ];
  return Array.from({ length: count }, (_, i) => {
    // Alternate directions so that both nodes send and receive.
    const [sender, receiver] = i % 2 === 0 ? [left[i]!, right[i]!] : [right[i]!, left[i]!];
    return {
      sender: { id: sender.id, token: sender.token, url: sender.url },
      receiver: { id: receiver.id, token: receiver.token, url: receiver.url },
    };
  });
}

/** Reads user+system CPU seconds and resident memory of a process from /proc. */
function readProcess(pid: number): { cpuSeconds: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssPages = Number(fields[21]);
  return { cpuSeconds: ticks / 100, rssBytes: rssPages * 4096 };
}

async function runWorker(
  input: WorkerInput,
  serverPid: number,
): Promise<Array<StepResult & { serverCpuPercent: number; serverRssMiB: number }>> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'loadtests/harness/one-to-one-worker.ts'], {
    cwd: ROOT,
    env: { ...process.env, SWB_BENCH_WORKER: JSON.stringify(input) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const results: Array<StepResult & { serverCpuPercent: number; serverRssMiB: number }> = [];
  let buffer = '';
  let before = readProcess(serverPid);
  let stepStarted = Date.now();
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      const step = JSON.parse(line) as StepResult;
      const after = readProcess(serverPid);
      const seconds = (Date.now() - stepStarted) / 1000;
      results.push({
        ...step,
        serverCpuPercent: Math.round(((after.cpuSeconds - before.cpuSeconds) / seconds) * 100),
        serverRssMiB: Math.round(after.rssBytes / 1024 / 1024),
      });
      process.stderr.write(
        `  offered ${step.offeredPerSecond}/s: delivered ${step.deliveredPerSecond}/s, p50 ${step.p50Ms} ms, p99 ${step.p99Ms} ms, lost ${step.lost}, doubled ${step.duplicated}\n`,
      );
      before = after;
      stepStarted = Date.now();
    }
  });
  const code = await new Promise<number | null>((resolveCode) => child.once('exit', resolveCode));
  if (code !== 0) throw new Error(`load worker exited with ${code}`);
  return results;
}

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, Linux`;
}

function writeReport(section: string): void {
  const start = '<!-- bench:embedded:start -->';
  const end = '<!-- bench:embedded:end -->';
  const block = `${start}\n${section}\n${end}`;
  const current = existsSync(OUTPUT)
    ? readFileSync(OUTPUT, 'utf8')
    : `# Switchboard benchmarks\n\n${start}\n${end}\n`;
  const from = current.indexOf(start);
  const to = current.indexOf(end);
  const next =
    from >= 0 && to > from
      ? current.slice(0, from) + block + current.slice(to + end.length)
      : `${current}\n${block}\n`;
  writeFileSync(OUTPUT, next);
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  const cluster = await startCluster(dataDir);
  try {
    process.stderr.write(`cluster at ${cluster.apiUrl}; registering ${PAIRS} pairs\n`);
    const pairs = await buildPairs(cluster.apiUrl, PAIRS);
    const results = await runWorker(
      { pairs, rates: RATES, stepSeconds: STEP_SECONDS, stopAboveP99Ms: 200, bodyBytes: 100 },
      cluster.child.pid!,
    );
    const broken = results.filter((step) => step.lost > 0 || step.duplicated > 0 || step.outOfOrder > 0);
    if (broken.length > 0) {
      throw new Error(
        `refusing to publish: ${broken.length} step(s) lost, doubled or reordered messages: ${JSON.stringify(broken)}`,
      );
    }
    const best = results.filter((step) => step.p99Ms < 50).at(-1);
    const rows = results.map(
      (step) =>
        `| ${step.offeredPerSecond} | ${step.deliveredPerSecond} | ${step.p50Ms} | ${step.p99Ms} | ${step.p999Ms} | ${step.serverCpuPercent}% | ${step.serverRssMiB} | ${Math.round((step.workerCpuSeconds / STEP_SECONDS) * 100)}% | ${step.lost} | ${step.duplicated} |`,
    );
    writeReport(
      [
        '## One-to-one messages, embedded profile, two chat nodes',
        '',
        `Command: \`make bench\` (loadtests/bench-embedded.ts), ${new Date().toISOString().slice(0, 10)}.`,
        `Machine: ${machine()}.`,
        `Setup: one process with the router, the API, two chat nodes, the file log and SQLite;`,
        `${PAIRS} sender/receiver pairs, each pair split over the two nodes, 100-byte bodies,`,
        `${STEP_SECONDS} s per offered rate, load from one separate Node process on loopback.`,
        'Latency is send-to-deliver: from the sender writing the frame to the receiver parsing',
        'the delivered message, through the log append (fdatasync) and the cross-node bus.',
        '',
        '| offered msg/s | delivered msg/s | p50 ms | p99 ms | p99.9 ms | server CPU | server RSS MiB | load CPU | lost | doubled |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
        ...rows,
        '',
        best
          ? `Highest offered rate with p99 under 50 ms: **${best.offeredPerSecond} msg/s** (${best.deliveredPerSecond} delivered per second).`
          : 'No step kept p99 under 50 ms.',
        '',
        // The brief's design point: 20 billion messages a day is about 231,000 a second on
        // average; the peak-hour factor of 2 and the 35% event bump are assumptions.
        best
          ? `Against the 500-million-user design (about 231,000 msg/s on average, ${Math.round(231_000 * 2 * 1.35).toLocaleString('en-US')} msg/s at a peak twice the average plus a 35% event bump), ` +
            `this figure would take ${Math.ceil((231_000 * 2 * 1.35) / best.deliveredPerSecond).toLocaleString('en-US')} embedded processes. ` +
            'The embedded profile is one process on one machine by design; fleet sizing uses the cluster profile figures.'
          : '',
      ].join('\n'),
    );
    process.stderr.write(`wrote ${OUTPUT}\n`);
  } finally {
    cluster.child.kill('SIGTERM');
    await new Promise((resolveExit) => cluster.child.once('exit', resolveExit));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
