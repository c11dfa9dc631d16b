/**
 * Runs a ladder of offered rates against one system under test with a pool of load workers,
 * and measures each step: throughput, send-to-deliver latency percentiles, server and
 * harness CPU, server memory, and whether every message arrived once and in order.
 */
import hdr from 'hdr-histogram-js';
import { readRssBytes, sumCpuSeconds } from './proc-stats.ts';
import type { SystemUnderTest } from './systems.ts';
import { splitEvenly, type LoadWorker } from './worker-pool.ts';

export interface LadderOptions {
  /** Offered rates in messages per second, over all workers. */
  rates: number[];
  stepSeconds: number;
  /** Stop after a step whose p99 exceeds this, in milliseconds. */
  stopAboveP99Ms: number;
  bodyBytes: number;
  /** Bounded wait for the last deliveries of a step, in milliseconds. */
  drainMs: number;
}

/** One measured step. Latencies are in milliseconds, CPU in percent of one core. */
export interface StepResult {
  offeredPerSecond: number;
  sent: number;
  acked: number;
  delivered: number;
  /** Sent but never delivered within the drain time. */
  lost: number;
  /** Sent but never acknowledged within the drain time. */
  unacked: number;
  duplicated: number;
  outOfOrder: number;
  disconnects: number;
  deliveredPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  serverCpuPercent: number;
  serverRssMiB: number;
  harnessCpuPercent: number;
}

/** Connects the system's pairs through the workers, spread evenly. */
export async function connectPairs(system: SystemUnderTest, workers: LoadWorker[]): Promise<number> {
  const shares = splitEvenly(system.pairs, workers.length);
  const replies = await Promise.all(
    workers.map((worker, i) =>
      worker.request({ type: 'connect', pairs: shares[i]!, concurrency: 16 }, 'connected', 120_000),
    ),
  );
  return replies.reduce((sum, reply) => sum + reply.connections, 0);
}

/** Returns true when a step lost, doubled or reordered a message, which forbids publishing it. */
export function isBroken(step: StepResult): boolean {
  return step.lost > 0 || step.duplicated > 0 || step.outOfOrder > 0;
}

/** One system under test and the workers that drive it. */
export interface LadderEntry {
  system: SystemUnderTest;
  workers: LoadWorker[];
}

/**
 * Returns true when a ladder ends after `step`: it broke the delivery checks, the system fell
 * behind (under 80% delivered), or p99 passed the bound on this and the previous step. On a
 * shared machine one step can catch a burst of unrelated work, so one bad p99 alone does not
 * end a system's ladder.
 */
function endsLadder(steps: StepResult[], step: StepResult, options: LadderOptions): boolean {
  if (isBroken(step) || step.deliveredPerSecond < step.offeredPerSecond * 0.8) return true;
  const previous = steps.at(-2);
  return (
    step.p99Ms > options.stopAboveP99Ms && previous !== undefined && previous.p99Ms > options.stopAboveP99Ms
  );
}

function describeStep(key: string, step: StepResult): string {
  return (
    `  ${key} offered ${step.offeredPerSecond}/s: delivered ${step.deliveredPerSecond}/s, p50 ${step.p50Ms} ms, ` +
    `p99 ${step.p99Ms} ms, server CPU ${step.serverCpuPercent}%, harness CPU ${step.harnessCpuPercent}%, ` +
    `lost ${step.lost}, doubled ${step.duplicated}, reordered ${step.outOfOrder}`
  );
}

/** Runs one system's ladder on its own. */
export async function runLadder(
  system: SystemUnderTest,
  workers: LoadWorker[],
  options: LadderOptions,
  log: (line: string) => void,
): Promise<StepResult[]> {
  const results = await runInterleavedLadders([{ system, workers }], options, log);
  return results.get(system.key) ?? [];
}

/**
 * Runs the ladders of several systems that are all up at once, one rate at a time: every
 * system takes its step at a rate before any takes the next rate. Unrelated load on a shared
 * machine then falls on all systems alike instead of on whichever ran during a busy minute.
 */
export async function runInterleavedLadders(
  entries: LadderEntry[],
  options: LadderOptions,
  log: (line: string) => void,
): Promise<Map<string, StepResult[]>> {
  // A short step at the lowest rate first, not reported, so that the JIT and the servers'
  // caches are warm before the first measured step. Its deliveries are still checked.
  for (const { system, workers } of entries) {
    const warmUp = await runStep(system, workers, options.rates[0]!, { ...options, stepSeconds: 3 });
    if (isBroken(warmUp)) {
      throw new Error(
        `${system.key} lost, doubled or reordered messages in the warm-up: ${JSON.stringify(warmUp)}`,
      );
    }
  }
  const results = new Map(entries.map((entry) => [entry.system.key, [] as StepResult[]]));
  let active = [...entries];
  for (const rate of options.rates) {
    const next: LadderEntry[] = [];
    for (const entry of active) {
      const steps = results.get(entry.system.key)!;
      const step = await runStep(entry.system, entry.workers, rate, options);
      steps.push(step);
      log(describeStep(entry.system.key, step));
      if (!endsLadder(steps, step, options)) next.push(entry);
    }
    active = next;
    if (active.length === 0) break;
  }
  return results;
}

async function runStep(
  system: SystemUnderTest,
  workers: LoadWorker[],
  rate: number,
  options: LadderOptions,
): Promise<StepResult> {
  const pids = system.serverPids();
  const cpuBefore = sumCpuSeconds(pids);
  const started = performance.now();
  const label = `${system.key.slice(0, 12)}-${rate}-${Date.now().toString(36)}`;
  const replies = await Promise.all(
    workers.map((worker) =>
      worker.request(
        {
          type: 'step',
          rate: rate / workers.length,
          seconds: options.stepSeconds,
          drainMs: options.drainMs,
          bodyBytes: options.bodyBytes,
          label,
        },
        'step',
        (options.stepSeconds + 60) * 1000 + options.drainMs,
      ),
    ),
  );
  const elapsed = (performance.now() - started) / 1000;
  const serverCpu = sumCpuSeconds(pids) - cpuBefore;
  let rss = 0;
  for (const pid of pids) rss += readRssBytes(pid);

  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let sent = 0;
  let acked = 0;
  let delivered = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let disconnects = 0;
  let harnessCpu = 0;
  let sendSeconds = 0;
  for (const { result } of replies) {
    histogram.add(hdr.decodeFromCompressedBase64(result.histogram));
    sent += result.sent;
    acked += result.acked;
    delivered += result.delivered;
    duplicated += result.duplicated;
    outOfOrder += result.outOfOrder;
    disconnects += result.disconnects;
    harnessCpu += result.cpuSeconds;
    sendSeconds = Math.max(sendSeconds, result.sendSeconds);
  }
  const ms = (us: number) => Math.round(us / 10) / 100;
  return {
    offeredPerSecond: rate,
    sent,
    acked,
    delivered,
    lost: Math.max(0, sent - delivered),
    unacked: Math.max(0, sent - acked),
    duplicated,
    outOfOrder,
    disconnects,
    deliveredPerSecond: Math.round(delivered / sendSeconds),
    p50Ms: ms(histogram.getValueAtPercentile(50)),
    p99Ms: ms(histogram.getValueAtPercentile(99)),
    p999Ms: ms(histogram.getValueAtPercentile(99.9)),
    maxMs: ms(histogram.maxValue),
    serverCpuPercent: Math.round((serverCpu / elapsed) * 100),
    serverRssMiB: Math.round(rss / 2 ** 20),
    harnessCpuPercent: Math.round((harnessCpu / elapsed) * 100),
  };
}
