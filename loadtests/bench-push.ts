/**
 * Push jobs per second through the push worker, against the loopback push services of
 * `@switchboard/push/testing`, on the embedded profile's file log and SQLite registry.
 *
 *   npx tsx loadtests/bench-push.ts
 *
 * For each provider it appends SWB_BENCH_PUSH_JOBS jobs while the worker is stopped, then
 * starts the worker and times the drain until the worker group has committed all of them.
 * The "distinct" runs give every job its own user and conversation, so each job is one
 * notification. The "collapsed" run sends 20 jobs per (user, conversation), and the worker
 * turns each 20 into one notification. The fakes run in this process and do their own work
 * (the Web Push fake decrypts every payload), so the figures are a lower bound of the worker
 * alone. Each drain is stopped after SWB_BENCH_PUSH_TIMEOUT_SECONDS (120) and the whole run
 * after 10 minutes. Results go into docs/benchmarks.md between the `bench:push` markers.
 *
 * Variables: SWB_BENCH_PUSH_JOBS (5000), SWB_BENCH_PUSH_USERS (1000, users per distinct run),
 * SWB_BENCH_PUSH_CONCURRENCY (64, SWB_PUSH_CONCURRENCY of the worker), SWB_BENCH_OUTPUT.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, type PushJob, type PushSubscription } from '@switchboard/core';
import { openPushLogs, openSqlite } from '@switchboard/embedded';
import { SwitchboardMetrics } from '@switchboard/metrics';
import { parseExposition, sumSamples } from '@switchboard/metrics/testing';
import {
  createConfiguredProviders,
  PUSH_WORKER_GROUP,
  PushWorker,
  readProvidersConfig,
} from '@switchboard/push-worker';
import { buildPushJob, startPushFakes, type PushFakes } from '@switchboard/push-worker/testing';

const ROOT = resolve(import.meta.dirname, '..');
const JOBS = Number(process.env.SWB_BENCH_PUSH_JOBS ?? 5000);
const USERS = Number(process.env.SWB_BENCH_PUSH_USERS ?? 1000);
const CONCURRENCY = Number(process.env.SWB_BENCH_PUSH_CONCURRENCY ?? 64);
const DRAIN_TIMEOUT_MS = Number(process.env.SWB_BENCH_PUSH_TIMEOUT_SECONDS ?? 120) * 1000;
const OUTPUT = process.env.SWB_BENCH_OUTPUT ?? join(ROOT, 'docs/benchmarks.md');
const RUN_LIMIT_MS = 10 * 60_000;
const BURST = 20;

type Kind = PushSubscription['kind'];

interface RunResult {
  name: string;
  jobs: number;
  notifications: number;
  seconds: number;
  complete: boolean;
  meanSendMs: number;
}

const logger = createLogger('bench-push', { level: 'warn' });

/** Builds the subscription of bench user `index` for provider `kind`. */
function subscriptionFor(fakes: PushFakes, kind: Kind, user: string, index: number): PushSubscription {
  const base = { id: `bench-${index}`, user, createdAt: 1 };
  if (kind === 'webpush') {
    const browser = fakes.webpush.createSubscription();
    return { ...base, kind, endpoint: browser.endpoint, keys: browser.keys };
  }
  if (kind === 'fcm') return { ...base, kind, token: `bench-fcm-token-${index}` };
  return { ...base, kind, token: index.toString(16).padStart(64, '0') };
}

async function run(fakes: PushFakes, name: string, kind: Kind, burst: number): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-push-bench-'));
  const logs = await openPushLogs(dir, logger);
  const jobsLog = logs.jobs;
  const sqlite = openSqlite(join(dir, 'switchboard.db'));
  const metrics = new SwitchboardMetrics({ processMetrics: false });
  const providers = createConfiguredProviders(readProvidersConfig(fakes.env), logger);
  const worker = new PushWorker({
    jobs: jobsLog,
    deadLetters: logs.dead,
    registry: sqlite.push,
    providers,
    logger,
    metrics,
    settings: { maxConcurrency: CONCURRENCY, collapseIntervalMs: 2000 },
  });

  try {
    const users = Math.min(USERS, Math.ceil(JOBS / burst));
    for (let i = 0; i < users; i++) {
      await sqlite.push.addSubscription(subscriptionFor(fakes, kind, `bench-user-${i}`, i));
    }
    const jobs: PushJob[] = [];
    for (let i = 0; i < JOBS; i++) {
      const group = Math.floor(i / burst);
      const user = `bench-user-${group % users}`;
      jobs.push(buildPushJob(user, `g.bench-${group}`, (i % burst) + 1, { body: `bench message ${i}` }));
    }
    for (let i = 0; i < jobs.length; i += 500) await jobsLog.append(jobs.slice(i, i + 500));

    const started = performance.now();
    await worker.start();
    const complete = await jobsLog.awaitConsumed(PUSH_WORKER_GROUP, DRAIN_TIMEOUT_MS);
    const seconds = (performance.now() - started) / 1000;
    const families = parseExposition(await metrics.render());
    const sendCount = sumSamples(families, 'switchboard_push_send_seconds_count', { provider: kind });
    const sendSum = sumSamples(families, 'switchboard_push_send_seconds_sum', { provider: kind });
    return {
      name,
      jobs: JOBS,
      notifications: sumSamples(families, 'switchboard_push_sent_total', { provider: kind }),
      seconds,
      complete,
      meanSendMs: sendCount === 0 ? 0 : (sendSum / sendCount) * 1000,
    };
  } finally {
    await worker.stop();
    await Promise.all(providers.map((provider) => provider.close()));
    await logs.close();
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function renderSection(results: RunResult[], load: string): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    '<!-- bench:push:start -->',
    '## Push worker',
    '',
    `Run on ${new Date().toISOString().slice(0, 10)} with \`npx tsx loadtests/bench-push.ts\`:`,
    `${JOBS.toLocaleString('en-US')} jobs appended to the embedded profile's file log, then drained by`,
    `one push worker (\`SWB_PUSH_CONCURRENCY=${CONCURRENCY}\`) into the loopback fakes of`,
    '`@switchboard/push/testing`, which run in the same process. The Web Push fake decrypts every',
    'payload and the APNs fake terminates TLS, so the figures are lower bounds of the worker alone.',
    `Machine: ${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version};`,
    `load average at the start: ${load}.`,
    '',
    '| run | jobs | notifications | seconds | jobs/s | notifications/s | mean send ms | drained |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const result of results) {
    lines.push(
      `| ${result.name} | ${result.jobs} | ${result.notifications} | ${result.seconds.toFixed(1)} | ` +
        `${Math.round(result.jobs / result.seconds).toLocaleString('en-US')} | ` +
        `${Math.round(result.notifications / result.seconds).toLocaleString('en-US')} | ` +
        `${result.meanSendMs.toFixed(1)} | ${result.complete ? 'yes' : 'no, timed out'} |`,
    );
  }
  lines.push(
    '',
    `"collapsed" sends ${BURST} jobs per user and conversation, which become one notification each:`,
    'the worker reads settings and subscriptions once per user and batch and sends once per',
    'group, so its jobs per second are bounded by the log read and the registry, not the sends.',
    'Web Push is the slowest because the worker encrypts every message with a fresh ECDH key',
    '(RFC 8291) and the fake decrypts it, both on the same cores; the run does not profile how',
    'that time splits between them.',
    '<!-- bench:push:end -->',
  );
  return lines.join('\n');
}

function writeSection(section: string): void {
  const start = '<!-- bench:push:start -->';
  const end = '<!-- bench:push:end -->';
  const page = existsSync(OUTPUT) ? readFileSync(OUTPUT, 'utf8') : '# Benchmarks\n';
  const from = page.indexOf(start);
  const to = page.indexOf(end);
  const updated =
    from >= 0 && to > from
      ? page.slice(0, from) + section + page.slice(to + end.length)
      : `${page.trimEnd()}\n\n${section}\n`;
  writeFileSync(OUTPUT, updated);
}

async function main(): Promise<void> {
  const load = loadavg()
    .map((value) => value.toFixed(1))
    .join(', ');
  const limit = sleep(RUN_LIMIT_MS, undefined, { ref: false }).then(() => {
    console.error(`run took longer than ${RUN_LIMIT_MS / 60_000} minutes; stopping`);
    process.exit(1);
  });
  void limit;

  const fakes = await startPushFakes();
  const results: RunResult[] = [];
  try {
    for (const kind of ['webpush', 'fcm', 'apns'] as const) {
      const result = await run(fakes, `${kind}, distinct`, kind, 1);
      console.log(JSON.stringify(result));
      results.push(result);
    }
    const collapsed = await run(fakes, `fcm, collapsed ${BURST}:1`, 'fcm', BURST);
    console.log(JSON.stringify(collapsed));
    results.push(collapsed);
  } finally {
    await fakes.close();
  }
  writeSection(renderSection(results, load));
  console.log(`wrote the push section of ${OUTPUT}`);
  process.exit(0);
}

await main();
