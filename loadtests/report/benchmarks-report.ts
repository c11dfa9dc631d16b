/**
 * Renders docs/benchmarks.md from the results of `make bench`. Only the text between the
 * `<!-- bench:start -->` and `<!-- bench:end -->` markers is generated; text around them is
 * kept, so notes written by hand survive a new run.
 */
import type { FailoverResult } from '../harness/failover.ts';
import type { FsyncLatency } from '../harness/fsync-probe.ts';
import type { IdleResult } from '../harness/idle-connections.ts';
import type { StepResult } from '../harness/ladder.ts';
import type { ClusterProfileResult } from '../harness/cluster-profile.ts';
import type { ProfileSummary } from './cpu-profile.ts';

export interface SystemResult {
  label: string;
  measuredAt: string;
  connections?: number;
  steps: StepResult[];
  /** Reason the system was not measured, when it was not. */
  skipped?: string;
}

/** Everything one `make bench` run measured, as stored in docs/benchmarks.json. */
export interface BenchResults {
  generatedAt: string;
  command: string;
  quick: boolean;
  machine: { cores: number; cpuModel: string; memoryGiB: number; node: string; loadAverageAtStart: number[] };
  settings: {
    rates: number[];
    stepSecondsPerRate: number;
    pairs: number;
    workers: number;
    bodyBytes: number;
    idleConnections: number;
    idleNodes: number;
    failoverConnections?: number;
  };
  systems: Record<string, SystemResult>;
  idle?: IdleResult & { measuredAt: string };
  failover?: FailoverResult & { measuredAt: string };
  /** fdatasync latency of the log's file system just before and just after the ladders. */
  fsyncBefore?: FsyncLatency;
  fsyncAfter?: FsyncLatency;
  profile?: ProfileSummary & { system: string; offeredPerSecond: number };
  /** Whether Kafka or Cassandra was running during the ladders of the systems that do not use them. */
  clusterEnginesDuringPeers?: boolean;
  clusterProfile?: ClusterProfileResult & { measuredAt: string };
}

export const START_MARK = '<!-- bench:start -->';
export const END_MARK = '<!-- bench:end -->';
/** Send-to-deliver p99 bound of the one-to-one targets, in milliseconds. */
export const P99_TARGET_MS = 50;

/** Returns the highest step that kept p99 under the target and delivered at least 95% of the offered rate. */
export function findBestStep(steps: StepResult[]): StepResult | undefined {
  return steps
    .filter((step) => step.p99Ms < P99_TARGET_MS && step.deliveredPerSecond >= step.offeredPerSecond * 0.95)
    .at(-1);
}

function formatNumber(value: number): string {
  return value.toLocaleString('en-US');
}

function formatRatio(value: number): string {
  return value >= 10 ? value.toFixed(0) : value.toFixed(2);
}

function renderLadder(system: SystemResult): string[] {
  if (system.skipped !== undefined) return [`Not measured: ${system.skipped.split('\n')[0]}`];
  return [
    '| offered msg/s | delivered msg/s | p50 ms | p99 ms | p99.9 ms | max ms | server CPU | server RSS MiB | harness CPU | lost | doubled | reordered |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...system.steps.map(
      (step) =>
        `| ${formatNumber(step.offeredPerSecond)} | ${formatNumber(step.deliveredPerSecond)} | ${step.p50Ms} | ${step.p99Ms} | ${step.p999Ms} | ${step.maxMs} | ${step.serverCpuPercent}% | ${step.serverRssMiB} | ${step.harnessCpuPercent}% | ${step.lost} | ${step.duplicated} | ${step.outOfOrder} |`,
    ),
  ];
}

interface Verdict {
  target: string;
  measured: string;
  met: boolean | null;
}

function judgeThroughput(results: BenchResults): Verdict[] {
  const best = (key: string) => findBestStep(results.systems[key]?.steps ?? []);
  const switchboard = best('switchboard-embedded');
  const verdicts: Verdict[] = [];
  const compare = (key: string, factor: number, wording: string) => {
    const peer = best(key);
    const label = results.systems[key]?.label ?? key;
    const peerSteps = results.systems[key]?.steps ?? [];
    const switchboardSteps = results.systems['switchboard-embedded']?.steps ?? [];
    if (peerSteps.length === 0 || switchboardSteps.length === 0) {
      verdicts.push({
        target: wording,
        measured: `not measured (${label} or Switchboard did not run)`,
        met: null,
      });
      return;
    }
    if (switchboard === undefined) {
      // Both ran, but no Switchboard step kept p99 under the bound: its rate at the bound is 0.
      const lowest = switchboardSteps[0]!;
      verdicts.push({
        target: wording,
        measured:
          `Switchboard kept no step under ${P99_TARGET_MS} ms (p99 ${lowest.p99Ms} ms already at ` +
          `${formatNumber(lowest.offeredPerSecond)} msg/s); ${label}: ` +
          (peer === undefined ? `none either` : `${formatNumber(peer.deliveredPerSecond)} msg/s`),
        met: peer === undefined ? null : false,
      });
      return;
    }
    if (peer === undefined) {
      verdicts.push({
        target: wording,
        measured: `${formatNumber(switchboard.deliveredPerSecond)} msg/s; ${label} kept no step under ${P99_TARGET_MS} ms`,
        met: true,
      });
      return;
    }
    const ratio = switchboard.deliveredPerSecond / peer.deliveredPerSecond;
    const met = ratio >= factor;
    verdicts.push({
      target: wording,
      measured:
        `${formatNumber(switchboard.deliveredPerSecond)} vs ${formatNumber(peer.deliveredPerSecond)} msg/s: ` +
        `${formatRatio(ratio)}x` +
        (met ? '' : `, short by ${Math.round((1 - ratio / factor) * 100)}% of the target`),
      met,
    });
  };
  compare('socketio', 5, `1:1 at p99 < ${P99_TARGET_MS} ms >= 5x Socket.IO`);
  compare('relay', 0.5, `1:1 at p99 < ${P99_TARGET_MS} ms >= 0.5x bare relay`);
  compare('centrifugo', 1, `1:1 at p99 < ${P99_TARGET_MS} ms >= Centrifugo with history`);
  return verdicts;
}

/**
 * Returns the larger of the two memory figures of a server: over all connections, and over the
 * second half only. Start-up garbage collected while connections open can only lower the first,
 * so the larger one is the conservative figure that the targets are judged on.
 */
export function conservativeBytes(figure: IdleResult['switchboard']): number {
  return Math.max(figure.bytesPerConnection, figure.bytesPerConnectionSecondHalf ?? 0);
}

function judgeIdle(idle: BenchResults['idle']): Verdict[] {
  if (idle === undefined) {
    return [{ target: '100,000 idle connections at <= 2 KiB each', measured: 'not measured', met: null }];
  }
  const perConnection = conservativeBytes(idle.switchboard);
  const relay = conservativeBytes(idle.relay);
  const ratio = relay > 0 ? perConnection / relay : Infinity;
  return [
    {
      target: '100,000 idle connections held',
      measured: `${formatNumber(idle.switchboard.held)} of ${formatNumber(idle.requested)} over ${idle.switchboard.processes} chat-node processes`,
      met: idle.switchboard.held >= 100_000,
    },
    {
      target: '<= 2 KiB chat-node RSS per idle connection',
      measured:
        `${formatNumber(perConnection)} bytes (the larger of the whole-run and second-half figures)` +
        (perConnection <= 2048 ? '' : `, ${Math.round((perConnection / 2048 - 1) * 100)}% over`),
      met: perConnection <= 2048,
    },
    {
      target: '<= 2x the bare relay per idle connection',
      measured:
        `${formatNumber(perConnection)} vs ${formatNumber(relay)} bytes: ${formatRatio(ratio)}x` +
        (ratio <= 2 ? '' : `, ${Math.round((ratio / 2 - 1) * 100)}% over`),
      met: ratio <= 2,
    },
  ];
}

function describeFsync(results: BenchResults): string[] {
  const { fsyncBefore: before, fsyncAfter: after } = results;
  if (before === undefined || after === undefined) return [];
  return [
    `- fdatasync of a 4 KiB append in ${before.directory}, where the embedded profile keeps its log: ` +
      `p50 ${before.p50Ms} ms, p99 ${before.p99Ms} ms, max ${before.maxMs} ms just before the ladders, and ` +
      `p50 ${after.p50Ms} ms, p99 ${after.p99Ms} ms, max ${after.maxMs} ms just after (${before.samples} syncs each). ` +
      'The embedded profile acknowledges a send only after the group commit that holds it is synced, so every Switchboard embedded latency includes one such sync.',
  ];
}

function judgeFailover(failover: BenchResults['failover']): string {
  const target =
    'a killed node with many connections: all clients reconnected and resynced within 30 s, nothing lost';
  if (failover === undefined) return `| ${target} | not measured | not measured |`;
  const met =
    failover.resyncedClients === failover.lostClients &&
    failover.resyncMaxMs <= 30_000 &&
    failover.lost === 0 &&
    failover.duplicated === 0;
  const measured =
    `${formatNumber(failover.resyncedClients)} of ${formatNumber(failover.lostClients)} cut clients resynced, the last ` +
    `${(failover.resyncMaxMs / 1000).toFixed(1)} s after the crash; ${formatNumber(failover.acked)} messages acknowledged, ` +
    `${failover.lost} lost, ${failover.duplicated} doubled`;
  return `| ${target} | ${measured} | ${met ? 'yes' : '**no**'} |`;
}

function renderFailover(failover: NonNullable<BenchResults['failover']>): string[] {
  return [
    `Measured at ${failover.measuredAt} with loadtests/harness/failover.ts: an embedded cluster with ${failover.chatNodes} chat nodes in one process (failover-server.ts), ` +
      `${formatNumber(failover.clients)} clients that each asked the router for their node, and pairs among them sending 150 msg/s. ` +
      'Five seconds into the sending, `node-1` crashes: its sockets are cut without a close frame and it stops its heartbeat without leaving, so the router keeps sending its users to it until its membership entry expires (TTL 3 s). ' +
      'Each cut client retries through the router with jittered backoff (250 ms doubling to 4 s), then pages `sync` from its last position and resends unacknowledged sends with the same ids.',
    '',
    '| connections on the killed node | clients cut | resynced | resync p50 s | p99 s | last s | messages acknowledged | lost | doubled |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${formatNumber(failover.connectionsOnKilledNode)} | ${formatNumber(failover.lostClients)} | ${formatNumber(failover.resyncedClients)} | ${(failover.resyncP50Ms / 1000).toFixed(1)} | ${(failover.resyncP99Ms / 1000).toFixed(1)} | ${(failover.resyncMaxMs / 1000).toFixed(1)} | ${formatNumber(failover.acked)} | ${failover.lost} | ${failover.duplicated} |`,
    '',
    "Times are from the crash to the end of each client's sync. The embedded profile stands in for a killed process here: the crash is the same from the clients' side, but the cluster profile's kill of a real process is not measured by `make bench`.",
  ];
}

/**
 * Describes the generator's own ceiling. The bare relay does the least work per message of all
 * systems, so where its ladder ends the load workers, or the shared cores, are the limit.
 */
function describeGeneratorCeiling(results: BenchResults): string {
  const relay = results.systems.relay;
  const last = relay?.steps.at(-1);
  if (relay === undefined || last === undefined) {
    return "The bare relay was not measured, so the generator's own ceiling is unknown.";
  }
  const sustained = relay.steps.filter((step) => step.deliveredPerSecond >= step.offeredPerSecond * 0.95);
  const ceiling = sustained.at(-1)?.offeredPerSecond ?? 0;
  const others = Object.entries(results.systems).filter(
    ([key, system]) => key !== 'relay' && system.steps.length > 0,
  );
  const highestOther = Math.max(
    0,
    ...others.map(([, system]) => findBestStep(system.steps)?.offeredPerSecond ?? 0),
  );
  const ranOut = last.offeredPerSecond === results.settings.rates.at(-1) && sustained.at(-1) === last;
  const limit = ranOut
    ? `That was the highest rate offered, so the generator's ceiling is above it. The ${results.settings.workers} load workers used ${last.harnessCpuPercent}% of a core together there.`
    : `Its ladder ended at ${formatNumber(last.offeredPerSecond)} msg/s offered and ${formatNumber(last.deliveredPerSecond)} delivered, with the relay at ${last.serverCpuPercent}% of a core and the ${results.settings.workers} load workers at ${last.harnessCpuPercent}% together. The relay does the least work per message of all systems, so that is where the load workers, or the shared cores, reach their limit.`;
  return (
    `Generator ceiling: the bare relay sustained ${formatNumber(ceiling)} msg/s. ${limit} ` +
    `The highest rate at which any other system kept p99 under ${P99_TARGET_MS} ms was ${formatNumber(highestOther)} msg/s` +
    (highestOther * 2 <= ceiling
      ? ", less than half of that, so the generator does not limit their figures, and a faster generator (for example in Go) would mainly raise the relay's."
      : ", more than half of the relay's, so the generator may be part of what limits them there.")
  );
}

/**
 * Renders the server CPU each system spent per 1,000 delivered messages at the highest rate
 * that every system sustained. CPU time per message is far less sensitive to other work on a
 * shared machine than latency is, so this is the steadiest comparison of the work each system
 * does per message.
 */
function renderCpuCost(results: BenchResults): string[] {
  const systems = Object.values(results.systems).filter((system) => system.steps.length > 0);
  if (systems.length < 2) return [];
  const sustainedRates = systems.map(
    (system) =>
      new Set(
        system.steps
          .filter((step) => step.deliveredPerSecond >= step.offeredPerSecond * 0.95)
          .map((step) => step.offeredPerSecond),
      ),
  );
  const common = [...sustainedRates[0]!].filter((rate) => sustainedRates.every((rates) => rates.has(rate)));
  const rate = Math.max(...common);
  if (!Number.isFinite(rate)) return [];
  const embedded = results.systems['switchboard-embedded']?.steps.find(
    (step) => step.offeredPerSecond === rate,
  );
  const cost = (step: StepResult) => (step.serverCpuPercent * 10) / (step.deliveredPerSecond / 1000);
  return [
    `Server CPU per 1,000 delivered messages at ${formatNumber(rate)} msg/s offered, the highest rate that every system sustained:`,
    '',
    "| system | server CPU ms per 1,000 messages | Switchboard embedded's CPU per message ÷ this system's |",
    '| --- | ---: | ---: |',
    ...systems.map((system) => {
      const step = system.steps.find((candidate) => candidate.offeredPerSecond === rate)!;
      const ratio = embedded === undefined ? '' : `${formatRatio(cost(embedded) / cost(step))}x`;
      return `| ${system.label} | ${Math.round(cost(step))} | ${ratio} |`;
    }),
    '',
  ];
}

function renderSummary(results: BenchResults): string[] {
  const rows = Object.entries(results.systems).map(([key, system]) => {
    const best = findBestStep(system.steps);
    if (best === undefined) {
      return `| ${system.label} | ${system.skipped === undefined ? `no step under ${P99_TARGET_MS} ms` : 'not measured'} | | | | | |`;
    }
    const perCpuSecond =
      best.serverCpuPercent > 0 ? Math.round(best.deliveredPerSecond / (best.serverCpuPercent / 100)) : 0;
    const embedded = findBestStep(results.systems['switchboard-embedded']?.steps ?? []);
    const ratio =
      key === 'switchboard-embedded' || embedded === undefined
        ? ''
        : `${formatRatio(embedded.deliveredPerSecond / best.deliveredPerSecond)}x`;
    return `| ${system.label} | ${formatNumber(best.offeredPerSecond)} | ${formatNumber(best.deliveredPerSecond)} | ${best.p50Ms} / ${best.p99Ms} | ${best.serverCpuPercent}% | ${formatNumber(perCpuSecond)} | ${ratio} |`;
  });
  return [
    `| system | highest offered msg/s with p99 < ${P99_TARGET_MS} ms | delivered msg/s | p50 / p99 ms | server CPU | msg per server CPU-second | Switchboard embedded's rate ÷ this system's |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ];
}

function renderIdle(idle: NonNullable<BenchResults['idle']>): string[] {
  const row = (name: string, figure: IdleResult['switchboard']) =>
    `| ${name} | ${figure.processes} | ${formatNumber(figure.held)} | ${figure.failed} | ${figure.retried} | ${figure.dropped} | ${figure.rssBeforeMiB} | ${figure.rssAfterMiB} | ${formatNumber(figure.bytesPerConnection)} | ${formatNumber(figure.bytesPerConnectionSecondHalf ?? 0)} | ${figure.connectSeconds} | ${figure.cpuSecondsPer1000} |`;
  return [
    '| server | processes | connections held | failed after 3 attempts | retried | dropped | RSS before MiB | RSS after MiB | bytes per connection | bytes per connection, second half | seconds to connect | server CPU s per 1,000 connects |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    row('Switchboard chat nodes', idle.switchboard),
    row('bare uWS relay', idle.relay),
    ...(idle.switchboard.firstError
      ? ['', `First connection error: \`${idle.switchboard.firstError}\``]
      : []),
    ...(idle.switchboard.dropped > 0
      ? [
          '',
          `Close codes of the dropped Switchboard connections: \`${JSON.stringify(idle.switchboard.closeCodes ?? {})}\``,
        ]
      : []),
  ];
}

function renderProfile(profile: NonNullable<BenchResults['profile']>): string[] {
  return [
    `Profile of the embedded profile's process (router, API, two chat nodes, log and SQLite in one thread) at ${formatNumber(profile.offeredPerSecond)} msg/s offered, ` +
      `\`node --cpu-prof\`, ${profile.durationSeconds} s, at the highest offered rate at which its median stayed under 50 ms. V8 samples the thread on a timer rather than on CPU time, so time blocked inside a synchronous call (better-sqlite3, a synchronous file write) is expected to show under the JavaScript frame that made the call. The thread was idle (waiting in the event loop) ${profile.idlePercent}% of the time, and the garbage collector took ${profile.gcPercent}% of the busy time.`,
    '',
    '| self % of busy time | function | location |',
    '| ---: | --- | --- |',
    ...profile.topFrames.map(
      (frame) => `| ${frame.selfPercent} | \`${frame.functionName}\` | ${frame.location} |`,
    ),
  ];
}

function formatMs(value: number): string {
  if (Number.isNaN(value)) return 'n/a';
  return value === Infinity ? 'above the last bucket' : String(value);
}

function renderClusterProfile(profile: NonNullable<BenchResults['clusterProfile']>): string[] {
  const step = profile.step;
  return [
    `Measured at ${profile.measuredAt}: a separate cluster-profile run of one step at ${formatNumber(profile.offeredPerSecond)} msg/s offered, with its two chat nodes under \`node --cpu-prof\` (which slows them a little). The step delivered ${formatNumber(step.deliveredPerSecond)} msg/s at p50 ${step.p50Ms} ms and p99 ${step.p99Ms} ms.`,
    '',
    'CPU of each process on the machine over the warm-up and the step, in percent of one core (the machine has two):',
    '',
    '| process | CPU |',
    '| --- | ---: |',
    ...profile.processes.map(
      (entry) => `| ${entry.name} | ${Number.isNaN(entry.cpuPercent) ? 'n/a' : `${entry.cpuPercent}%`} |`,
    ),
    '',
    'Stages on the chat nodes, from their Prometheus histograms over the warm-up and the step. The p50 and p99 columns are the upper bounds of the histogram buckets that contain them, so they round up.',
    '',
    '| stage | observations | mean ms | p50 ms (bucket) | p99 ms (bucket) |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...profile.stages.map(
      (stage) =>
        `| ${stage.name} | ${formatNumber(stage.count)} | ${formatMs(stage.meanMs)} | ${formatMs(stage.p50BucketMs)} | ${formatMs(stage.p99BucketMs)} |`,
    ),
    '',
    `Busiest chat node: idle ${profile.chatNode.idlePercent}% of its ${profile.chatNode.durationSeconds} s, garbage collector ${profile.chatNode.gcPercent}% of the busy time.`,
    '',
    '| self % of busy time | function | location |',
    '| ---: | --- | --- |',
    ...profile.chatNode.topFrames.map(
      (frame) => `| ${frame.selfPercent} | \`${frame.functionName}\` | ${frame.location} |`,
    ),
  ];
}

function describeEngines(results: BenchResults): string {
  return results.clusterEnginesDuringPeers === true
    ? ' In this run Kafka or Cassandra was already running when the bench started, so it shared the machine with every ladder.'
    : '';
}

function renderBlock(results: BenchResults): string {
  const m = results.machine;
  const s = results.settings;
  const verdicts = [...judgeIdle(results.idle), ...judgeThroughput(results)];
  const lines = [
    START_MARK,
    '',
    `Generated by \`${results.command}\` (loadtests/bench.ts) at ${results.generatedAt}${results.quick ? ', in quick mode: smoke figures, not for comparison' : ''}.`,
    `Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, Linux. Load average at the start: ${m.loadAverageAtStart.join(', ')}.`,
    ...(results.command.startsWith('SWB_BENCH_ONLY')
      ? [
          'That run measured only the parts it names and kept the other parts from the previous results file; each section below states when it was measured.',
        ]
      : []),
    'The machine is shared with other work, so the load generator, the servers and unrelated processes compete for the same two cores; compare systems within one run rather than across runs.',
    '',
    '## Method',
    '',
    `- ${s.pairs} sender/receiver pairs per system, driven by ${s.workers} load worker processes (loadtests/harness/load-worker.ts), each on its own source address (127.0.0.2, 127.0.0.3, ...). The workers speak each system's wire protocol over a minimal WebSocket client (raw-websocket.ts), or socket.io-client for Socket.IO.`,
    `- The relay, Switchboard embedded, Socket.IO and Centrifugo are up at once and their ladders are interleaved. Each system takes its step at one rate before any takes the next, so unrelated load on the shared machine falls on all of them alike. The Switchboard cluster profile runs its ladder afterwards, alone, with Kafka and Cassandra started for it and stopped after it: the two JVMs take CPU even when idle. In a run of 2026-12-04 where they shared the 2-core machine with every ladder, the p99 of Socket.IO, Centrifugo and Switchboard embedded at 500 msg/s was 102 to 240 ms; with them stopped, it was 4 to 16 ms.${describeEngines(results)} A 3 s warm-up at the lowest rate comes first and is not reported. Each offered rate runs for ${s.stepSecondsPerRate} s; the ladder stops after two steps in a row with p99 above 200 ms, or at the first step with fewer than 80% of the offered messages delivered. Bodies are ${s.bodyBytes} bytes.`,
    '- Latency is send-to-deliver: from the worker writing the frame to the same worker parsing the delivery on the receiver connection, so both ends read one clock.',
    '- Correctness: every body carries a per-pair counter; each step counts lost (sent, never delivered within 10 s), doubled and reordered deliveries. A run with any of them publishes nothing.',
    '- Where a system has more than one server process, every sender and its receiver are on different processes. Switchboard runs two chat nodes (joined by the in-process bus in the embedded profile and by Redis pub/sub in the cluster profile), Socket.IO two servers with the Redis adapter, and Centrifugo two nodes with the Redis engine. The bare relay is one process.',
    '- Acknowledgements differ. Switchboard acks after the message is in the durable log: fdatasync of the file log in the embedded profile, a Kafka append acknowledged by all in-sync replicas in the cluster profile. Centrifugo replies to a publish after its Redis engine stored it in the channel history. Socket.IO calls the acknowledgement once the message is handed to the Redis adapter, with nothing stored. The bare relay acks at once and stores nothing.',
    '- Server CPU is the user plus system time of the server processes over the step, in percent of one core (Switchboard cluster: chat-node processes only; Redis, Kafka and Cassandra are not counted). Harness CPU is the same for the load workers.',
    ...describeFsync(results),
    '',
    '## Targets',
    '',
    '| target | measured | met |',
    '| --- | --- | --- |',
    ...verdicts.map(
      (v) =>
        `| ${v.target} | ${v.measured} | ${v.met === null ? 'not measured' : v.met ? 'yes' : '**no**'} |`,
    ),
    judgeFailover(results.failover),
    '',
    '## One-to-one throughput',
    '',
    ...renderSummary(results),
    '',
    ...renderCpuCost(results),
    '![p99 send-to-deliver latency against offered rate](benchmarks-p99.svg)',
    '',
    describeGeneratorCeiling(results),
    '',
  ];
  for (const system of Object.values(results.systems)) {
    lines.push(
      `### ${system.label}`,
      '',
      `Measured at ${system.measuredAt}.`,
      '',
      ...renderLadder(system),
      '',
    );
  }
  if (results.idle !== undefined) {
    lines.push(
      '## Idle connections',
      '',
      `Measured at ${results.idle.measuredAt}: ${formatNumber(results.idle.requested)} authenticated connections requested over ${results.idle.switchboard.processes} chat-node processes ` +
        '(embedded launchers with SWB_CHAT_NODES=1, sharing only the token secret), one load worker per process on its own source address; ' +
        "then the same number per process against one bare relay process. Each client answers the server's WebSocket pings and sends nothing else. " +
        'Bytes per connection = (RSS with the connections - RSS before) / connections, from VmRSS in /proc/<pid>/status, summed over the server processes, each reading after a settling pause. ' +
        'Before the baseline each worker opens and closes a tenth of its share, so that start-up garbage is collected and lazily built structures exist. Each worker then opens its share in two halves, and the second-half figure is the RSS growth over the second half divided by its connections: garbage from start-up that is collected while the first connections open can only make the whole-run figure smaller, so the targets use the larger of the two.',
      '',
      ...renderIdle(results.idle),
      '',
    );
  }
  if (results.failover !== undefined)
    lines.push('## Killed node', '', ...renderFailover(results.failover), '');
  if (results.profile !== undefined || results.clusterProfile !== undefined) {
    lines.push('## Where the time goes', '');
    if (results.profile !== undefined) lines.push(...renderProfile(results.profile), '');
    if (results.clusterProfile !== undefined) {
      lines.push('### Cluster profile', '', ...renderClusterProfile(results.clusterProfile), '');
    }
  }
  lines.push(
    '## At 500 million daily users',
    '',
    '`npx tsx loadtests/capacity.ts` reads docs/benchmarks.json and turns these per-node figures into the fleet table in [capacity.md](capacity.md): chat nodes, routers, Redis shards, Kafka brokers and partitions, Cassandra nodes and pushes per second.',
    '',
    END_MARK,
  );
  return lines.join('\n');
}

/**
 * Markers of the one-to-one section that the embedded-only bench used to write. This page's
 * block replaces it, since it holds the embedded profile's ladder too.
 */
const OLD_EMBEDDED_MARKS = ['<!-- bench:embedded:start -->', '<!-- bench:embedded:end -->'] as const;

/** Removes the text from `start` to `end`, markers included, when both are present. */
function removeBlock(text: string, start: string, end: string): string {
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) return text;
  return (text.slice(0, from).trimEnd() + '\n\n' + text.slice(to + end.length).trimStart()).trimEnd() + '\n';
}

/**
 * Returns the new benchmarks page: `current` with its generated block replaced, or with the
 * block appended when it has none. Other marked sections (such as the engines section) stay.
 */
export function renderBenchmarks(results: BenchResults, current: string): string {
  const block = renderBlock(results);
  const base = removeBlock(current, ...OLD_EMBEDDED_MARKS);
  const from = base.indexOf(START_MARK);
  const to = base.indexOf(END_MARK);
  if (from >= 0 && to > from) return base.slice(0, from) + block + base.slice(to + END_MARK.length);
  const heading = '# Switchboard benchmarks';
  if (base.trim() === '') return `${heading}\n\n${block}\n`;
  const body = base.trimStart().startsWith('# ') ? base.trimEnd() : `${heading}\n\n${base.trim()}`;
  return `${body}\n\n${block}\n`;
}
