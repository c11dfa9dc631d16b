/**
 * Measures where the cluster profile's send-to-deliver time goes. One ladder step runs against a
 * cluster whose chat nodes run under `node --cpu-prof`. The result has the CPU of every process
 * on the machine and the chat nodes' stage histograms over the step.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summariseProfile, type ProfileSummary } from '../report/cpu-profile.ts';
import { connectPairs, runLadder, type LadderOptions, type StepResult } from './ladder.ts';
import { readCpuSeconds } from './proc-stats.ts';
import { startSwitchboardCluster } from './systems.ts';
import { startWorkers } from './worker-pool.ts';

/** Latency of one stage, summed over the chat nodes, from histogram deltas over the step. */
export interface StageLatency {
  name: string;
  count: number;
  meanMs: number;
  /** Upper bound of the histogram bucket that contains the median, in milliseconds. */
  p50BucketMs: number;
  /** Upper bound of the histogram bucket that contains the 99th percentile, in milliseconds. */
  p99BucketMs: number;
}

export interface ClusterProfileResult {
  offeredPerSecond: number;
  step: StepResult;
  /** CPU of each process over the warm-up and the step, in percent of one core. */
  processes: Array<{ name: string; cpuPercent: number }>;
  stages: StageLatency[];
  /** CPU profile of the busiest chat node. */
  chatNode: ProfileSummary;
}

/** Histograms of the chat nodes read for the stage table, with the label set to keep. */
const STAGES: Array<{ name: string; metric: string; labels: string }> = [
  { name: 'send frame in to ack out', metric: 'switchboard_ack_latency_seconds', labels: '' },
  { name: 'Kafka append (group commit)', metric: 'switchboard_kafka_produce_seconds', labels: 'result="ok"' },
  {
    name: 'accepted to written on the recipient node',
    metric: 'switchboard_send_to_deliver_seconds',
    labels: '',
  },
];

interface Histogram {
  count: number;
  sum: number;
  /** Cumulative counts by upper bound in seconds, in increasing order. */
  buckets: Array<[number, number]>;
}

/**
 * Adds up the series of `metric` whose labels contain `labels` in a Prometheus text exposition.
 * Every series of one histogram has the same bucket bounds, so cumulative counts add up.
 */
export function readHistogram(text: string, metric: string, labels: string): Histogram {
  const histogram: Histogram = { count: 0, sum: 0, buckets: [] };
  const byBound = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric)) continue;
    const match = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (match === null) continue;
    const [, name, labelText = '', valueText] = match;
    if (labels !== '' && !labelText.includes(labels)) continue;
    const value = Number(valueText);
    if (name === `${metric}_count`) histogram.count += value;
    else if (name === `${metric}_sum`) histogram.sum += value;
    else if (name === `${metric}_bucket`) {
      const bound = /le="([^"]+)"/.exec(labelText)?.[1];
      if (bound === undefined) continue;
      const upper = bound === '+Inf' ? Infinity : Number(bound);
      byBound.set(upper, (byBound.get(upper) ?? 0) + value);
    }
  }
  histogram.buckets = [...byBound.entries()].sort((a, b) => a[0] - b[0]);
  return histogram;
}

/** Turns two readings of a histogram into the latency of what was observed between them. */
export function describeStage(name: string, before: Histogram, after: Histogram): StageLatency {
  const count = after.count - before.count;
  const deltas = after.buckets.map(([bound, total], i): [number, number] => [
    bound,
    total - (before.buckets[i]?.[1] ?? 0),
  ]);
  const quantileBucket = (q: number): number => {
    const bucket = deltas.find(([, total]) => total >= q * count);
    return bucket === undefined ? NaN : bucket[0] * 1000;
  };
  return {
    name,
    count,
    meanMs: count > 0 ? round(((after.sum - before.sum) / count) * 1000) : NaN,
    p50BucketMs: quantileBucket(0.5),
    p99BucketMs: quantileBucket(0.99),
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Returns the pid that listens on a loopback TCP port, from `ss`, or null when none does. */
function findListener(port: number): number | null {
  const output = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
  const match = /pid=(\d+)/.exec(output);
  return match === null ? null : Number(match[1]);
}

async function scrape(urls: string[]): Promise<string> {
  const texts = await Promise.all(urls.map(async (url) => (await fetch(url)).text()));
  return texts.join('\n');
}

/**
 * Runs one ladder step at `rate` against a two-node cluster whose chat nodes are profiled,
 * and returns the step, the CPU of every process and the stage latencies. The engines (Redis,
 * Kafka, Cassandra) must already run on their usual ports.
 */
export async function profileCluster(
  rate: number,
  options: { pairs: number; workers: number; ladder: LadderOptions },
  log: (line: string) => void,
): Promise<ClusterProfileResult> {
  const profileDir = mkdtempSync(join(tmpdir(), 'switchboard-cluster-profile-'));
  try {
    const system = await startSwitchboardCluster(options.pairs, [
      '--cpu-prof',
      `--cpu-prof-dir=${profileDir}`,
    ]);
    const { processes: cluster } = system;
    const workers = startWorkers(options.workers);
    let step: StepResult;
    let stages: StageLatency[];
    let cpu: Array<{ name: string; cpuPercent: number }>;
    try {
      const named: Array<[string, number | null]> = [
        ...cluster.chatNodes.map((node): [string, number] => [`chat node ${node.name}`, node.pid]),
        ['router', cluster.router.pid],
        ['API', cluster.api.pid],
        ['persister', cluster.persister.pid],
        ['Redis', findListener(6390)],
        ['Kafka', findListener(9092)],
        ['Cassandra', findListener(9042)],
        ...workers.map((worker, i): [string, number] => [`load worker ${i + 1}`, worker.pid]),
      ];
      const metricsUrls = cluster.chatNodes.map((node) =>
        node.address.replace(/^ws/, 'http').replace(/\/ws$/, '/metrics'),
      );
      await connectPairs(system, workers);

      const readCpu = () =>
        named.map(([, pid]) => {
          try {
            return pid === null ? NaN : readCpuSeconds(pid);
          } catch {
            return NaN;
          }
        });
      const metricsBefore = await scrape(metricsUrls);
      const cpuBefore = readCpu();
      const startedAt = performance.now();
      const steps = await runLadder(system, workers, { ...options.ladder, rates: [rate] }, log);
      if (steps[0] === undefined) throw new Error('the profiled step did not run');
      step = steps[0];
      const seconds = (performance.now() - startedAt) / 1000;
      const cpuAfter = readCpu();
      const metricsAfter = await scrape(metricsUrls);

      cpu = named.map(([name], i) => ({
        name,
        cpuPercent: Math.round(((cpuAfter[i]! - cpuBefore[i]!) / seconds) * 100),
      }));
      stages = STAGES.map(({ name, metric, labels }) =>
        describeStage(
          name,
          readHistogram(metricsBefore, metric, labels),
          readHistogram(metricsAfter, metric, labels),
        ),
      );
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
      // node --cpu-prof writes a profile when a process exits, so the chat nodes must exit cleanly.
      await system.stop();
    }

    const busiest = cpu
      .filter((entry) => entry.name.startsWith('chat node'))
      .sort((a, b) => b.cpuPercent - a.cpuPercent)[0];
    const busiestPid = cluster.chatNodes.find((node) => `chat node ${node.name}` === busiest?.name)?.pid;
    const file = readdirSync(profileDir).find(
      (name) => name.endsWith('.cpuprofile') && name.includes(`.${busiestPid}.`),
    );
    if (busiestPid === undefined || file === undefined) {
      throw new Error(`no CPU profile of chat node pid ${busiestPid} in ${profileDir}`);
    }
    const chatNode = summariseProfile(JSON.parse(readFileSync(join(profileDir, file), 'utf8')), 15);
    return { offeredPerSecond: rate, step, processes: cpu, stages, chatNode };
  } finally {
    rmSync(profileDir, { recursive: true, force: true });
  }
}
