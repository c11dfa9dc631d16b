/**
 * `npx tsx loadtests/ring-simulation.ts`: rebuild time, memory, lookup time, balance and
 * movement of the consistent-hash ring, for both algorithms at 100, 1,000 and 10,000 nodes.
 *
 * Each measurement runs in its own child process, started as `node --expose-gc --import tsx`,
 * so that the memory deltas start from a collected heap and no ring outlives its row. Prints a
 * table and writes it into the ring section of docs/capacity.md.
 *
 * Settings (environment):
 *   SWB_RING_SIZES           node counts, comma-separated (default 100,1000,10000)
 *   SWB_RING_USERS           user ids for balance and movement of `compact` (default 50000000)
 *   SWB_RING_HASHRING_USERS  the same for `hashring`, whose lookups take about 7 us (default 2000000)
 *   SWB_RING_OUTPUT          file to write (default docs/capacity.md), or `-` to print only
 *   SWB_RING_SWEEP           `0` skips the sweep of compact settings at the end (default 1)
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { buildRing, type Ring, type RingAlgorithm, type RingMember } from '@switchboard/ring';

const ROOT = resolve(import.meta.dirname, '..');
const SCRIPT = resolve(import.meta.filename);
const SIZES = parseCountList(process.env.SWB_RING_SIZES ?? '100,1000,10000', 'SWB_RING_SIZES');
const COMPACT_USERS = parseCount(process.env.SWB_RING_USERS ?? '50000000', 'SWB_RING_USERS');
const HASHRING_USERS = parseCount(
  process.env.SWB_RING_HASHRING_USERS ?? '2000000',
  'SWB_RING_HASHRING_USERS',
);
const OUTPUT = process.env.SWB_RING_OUTPUT ?? join(ROOT, 'docs/capacity.md');
const RUN_SWEEP = process.env.SWB_RING_SWEEP !== '0';
/**
 * Compact settings compared by the sweep, as [vnodes, probes]. One probe is a classic ring with
 * many points, and one point per node is multi-probe hashing as first published. The rest trade
 * points, which cost rebuild time and memory, against probes, which cost lookup time.
 */
const SWEEP_SETTINGS: [number, number][] = [
  [160, 1],
  [1000, 1],
  [1, 21],
  [20, 21],
  [40, 20],
  [50, 16],
  [80, 10],
  [100, 8],
  [200, 4],
];
const SWEEP_NODES = 10_000;
const SWEEP_SPREAD_NODES = 1000;
const SWEEP_SPREAD_USERS = 2_000_000;
const ALGORITHMS: RingAlgorithm[] = ['compact', 'hashring'];
/** Lookups per timing round. The user ids are built up front, so only ownerOf is timed. */
const LOOKUP_IDS = { compact: 1_000_000, hashring: 100_000 } as const;
const LOOKUP_ROUNDS = 5;
/** Rebuilds timed per row. hashring at 10,000 nodes takes seconds per build, so it gets one. */
const REBUILDS = { compact: 9, hashring: 3 } as const;
const SLOW_HASHRING_NODES = 10_000;
const CHILD_TIMEOUT_MS = 30 * 60_000;
const SECTION_HEADING = '## The ring at 10,000 chat nodes';
const BEGIN_MARK = '<!-- ring-simulation:begin -->';
const END_MARK = '<!-- ring-simulation:end -->';

interface RowResult {
  algorithm: RingAlgorithm;
  nodes: number;
  /** Wall-clock milliseconds of the first build in a fresh process, before the JIT warms up. */
  firstBuildMs: number;
  /** Median wall-clock milliseconds of the rebuilds, each after one node left. */
  rebuildMs: number;
  /** Fastest wall-clock milliseconds of the same rebuilds, the least disturbed by other jobs. */
  rebuildMinMs: number;
  /** Median CPU milliseconds (user plus system) of the same rebuilds. */
  rebuildCpuMs: number;
  rebuilds: number;
  /** Heap plus external memory held by the ring after a forced GC, in MiB. */
  retainedMiB: number;
  /** Heap plus external memory grown during the build, before any forced GC, in MiB. */
  buildAllocatedMiB: number;
  /** Growth of the process's peak resident set during the first build, in MiB. */
  peakRssMiB: number;
  /** Median wall-clock nanoseconds per ownerOf over LOOKUP_ROUNDS rounds. */
  lookupNs: number;
  /** Fastest wall-clock round, in nanoseconds per ownerOf. */
  lookupMinNs: number;
  /** Median CPU nanoseconds per ownerOf over the same rounds. */
  lookupCpuNs: number;
  users: number;
  maxOverMean: number;
  /** Max over mean of a uniform assignment of the same ids (hash mod N): the sampling floor. */
  floorMaxOverMean: number;
  /** Users moved by a join, over the ideal users / (N + 1). */
  joinMovedOverIdeal: number;
  /** Moved users whose new owner is not the joining node. */
  joinMovedElsewhere: number;
  /** Users moved by a leave, over the ideal users / N. */
  leaveMovedOverIdeal: number;
  /** Moved users whose old owner is not the leaving node. */
  leaveMovedFromOthers: number;
  /** Users per node of weight 2 over users per node of weight 1, with every tenth node at weight 2. */
  weightRatio: number;
}

function parseCount(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

function parseCountList(text: string, name: string): number[] {
  return text.split(',').map((part) => parseCount(part.trim(), name));
}

function makeMembers(count: number, heavyEvery = 0): RingMember[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `node-${i + 1}`,
    weight: heavyEvery > 0 && i % heavyEvery === 0 ? 2 : 1,
    url: `ws://127.0.0.1:${9001 + (i % 50_000)}/ws`,
  }));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function heapAndExternal(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the measuring process needs --expose-gc');
  gc();
  gc();
}

/**
 * Returns the node slot of a uniform placement (FNV-1a with the MurmurHash3 finalizer, mod N),
 * whose max over mean is the sampling floor that no ring can beat with the same ids.
 */
function uniformSlot(userId: string, nodes: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) h = Math.imul(h ^ userId.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % nodes;
}

/** Runs one row: build, memory, lookup time, balance, movement and weights. */
function measureRow(algorithm: RingAlgorithm, nodes: number, users: number): RowResult {
  const members = makeMembers(nodes + 1);
  const base = members.slice(0, nodes);

  // Memory first, while the process has allocated little else, so the peak RSS grows for the build only.
  collectGarbage();
  const rssBefore = process.resourceUsage().maxRSS;
  const memoryBefore = heapAndExternal();
  let started = performance.now();
  const ring = buildRing(base, { algorithm });
  const firstBuildMs = performance.now() - started;
  const memoryAfterBuild = heapAndExternal();
  const peakRssMiB = (process.resourceUsage().maxRSS - rssBefore) / 1024;
  collectGarbage();
  const retainedMiB = (heapAndExternal() - memoryBefore) / 2 ** 20;
  const buildAllocatedMiB = (memoryAfterBuild - memoryBefore) / 2 ** 20;

  // Each rebuild follows a different node leaving, as after a real membership change.
  const rebuilds = algorithm === 'hashring' && nodes >= SLOW_HASHRING_NODES ? 1 : REBUILDS[algorithm];
  const rebuildTimes: number[] = [];
  const rebuildCpuTimes: number[] = [];
  for (let r = 0; r < rebuilds; r++) {
    const leaving = `node-${1 + ((r * 7919) % nodes)}`;
    const changed = base.filter((member) => member.id !== leaving);
    const cpuBefore = process.cpuUsage();
    started = performance.now();
    buildRing(changed, { algorithm });
    rebuildTimes.push(performance.now() - started);
    rebuildCpuTimes.push(cpuMicroseconds(process.cpuUsage(cpuBefore)) / 1000);
  }

  const lookups = timeLookups(ring, LOOKUP_IDS[algorithm]);
  const balance = measureBalanceAndMovement(algorithm, ring, members, users);
  const weightRatio = measureWeights(algorithm, nodes, Math.min(users, 10_000_000));

  return {
    algorithm,
    nodes,
    firstBuildMs,
    rebuildMs: median(rebuildTimes),
    rebuildMinMs: Math.min(...rebuildTimes),
    rebuildCpuMs: median(rebuildCpuTimes),
    rebuilds,
    retainedMiB,
    buildAllocatedMiB,
    peakRssMiB,
    lookupNs: lookups.wallNs,
    lookupMinNs: lookups.minWallNs,
    lookupCpuNs: lookups.cpuNs,
    users,
    ...balance,
    weightRatio,
  };
}

function cpuMicroseconds(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

/** Times ownerOf over pre-built user ids, and returns nanoseconds per lookup. */
function timeLookups(ring: Ring, count: number): { wallNs: number; minWallNs: number; cpuNs: number } {
  // JSON round-trip flattens the template strings, as ids parsed from a request are flat.
  const userIds = JSON.parse(
    JSON.stringify(Array.from({ length: count }, (_, i) => `user-${i * 7919}`)),
  ) as string[];
  let checksum = 0;
  for (const userId of userIds) checksum += ring.ownerOf(userId)!.length;

  const wallRounds: number[] = [];
  const cpuRounds: number[] = [];
  for (let round = 0; round < LOOKUP_ROUNDS; round++) {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < userIds.length; i++) checksum += ring.ownerOf(userIds[i]!)!.length;
    wallRounds.push(((performance.now() - started) * 1e6) / userIds.length);
    cpuRounds.push((cpuMicroseconds(process.cpuUsage(cpuBefore)) * 1e3) / userIds.length);
  }
  if (checksum === 0) throw new Error('lookups returned no owners');
  return { wallNs: median(wallRounds), minWallNs: Math.min(...wallRounds), cpuNs: median(cpuRounds) };
}

/**
 * Looks up every user id on the base ring, on the ring after one node joined and on the ring
 * after one node left, counting per-node loads and every user that moved.
 */
function measureBalanceAndMovement(
  algorithm: RingAlgorithm,
  ring: Ring,
  members: RingMember[],
  users: number,
): Pick<
  RowResult,
  | 'maxOverMean'
  | 'floorMaxOverMean'
  | 'joinMovedOverIdeal'
  | 'joinMovedElsewhere'
  | 'leaveMovedOverIdeal'
  | 'leaveMovedFromOthers'
> {
  const nodes = ring.size;
  const joined = members[nodes]!.id;
  const leaving = members[nodes >> 1]!.id;
  const joinRing = buildRing(members, { algorithm });
  const leaveRing = buildRing(
    members.slice(0, nodes).filter((member) => member.id !== leaving),
    { algorithm },
  );
  const slotOf = new Map(ring.nodes.map((id, slot) => [id, slot]));
  const counts = new Float64Array(nodes);
  const floorCounts = new Float64Array(nodes);
  let joinMoved = 0;
  let joinMovedElsewhere = 0;
  let leaveMoved = 0;
  let leaveMovedFromOthers = 0;

  for (let i = 0; i < users; i++) {
    const userId = `user-${i}`;
    const owner = ring.ownerOf(userId)!;
    counts[slotOf.get(owner)!]!++;
    floorCounts[uniformSlot(userId, nodes)]!++;

    const afterJoin = joinRing.ownerOf(userId);
    if (afterJoin !== owner) {
      joinMoved++;
      if (afterJoin !== joined) joinMovedElsewhere++;
    }
    const afterLeave = leaveRing.ownerOf(userId);
    if (afterLeave !== owner) {
      leaveMoved++;
      if (owner !== leaving) leaveMovedFromOthers++;
    }
  }

  const mean = users / nodes;
  return {
    maxOverMean: Math.max(...counts) / mean,
    floorMaxOverMean: Math.max(...floorCounts) / mean,
    joinMovedOverIdeal: joinMoved / (users / (nodes + 1)),
    joinMovedElsewhere,
    leaveMovedOverIdeal: leaveMoved / (users / nodes),
    leaveMovedFromOthers,
  };
}

function measureWeights(algorithm: RingAlgorithm, nodes: number, users: number): number {
  const members = makeMembers(nodes, 10);
  const ring = buildRing(members, { algorithm });
  const heavy = new Set(members.filter((member) => member.weight === 2).map((member) => member.id));
  let heavyUsers = 0;
  for (let i = 0; i < users; i++) {
    if (heavy.has(ring.ownerOf(`user-${i}`)!)) heavyUsers++;
  }
  const lightUsers = users - heavyUsers;
  return heavyUsers / heavy.size / (lightUsers / (nodes - heavy.size));
}

interface SweepResult {
  vnodes: number;
  probes: number;
  /** Median wall-clock milliseconds of 5 rebuilds at SWEEP_NODES. */
  rebuildMs: number;
  /** Median CPU milliseconds of the same rebuilds. */
  rebuildCpuMs: number;
  /** Heap plus external memory held by the ring at SWEEP_NODES after a forced GC, in MiB. */
  retainedMiB: number;
  lookupNs: number;
  lookupCpuNs: number;
  /**
   * Standard deviation of users per node over the mean, at SWEEP_SPREAD_NODES over
   * SWEEP_SPREAD_USERS, less the binomial sampling variance: the ring's own spread.
   */
  ringSpread: number;
}

/** Measures one compact setting for the sweep. */
function measureSweep(vnodes: number, probes: number): SweepResult {
  const options = { algorithm: 'compact' as const, vnodes, probes };
  const members = makeMembers(SWEEP_NODES);

  collectGarbage();
  const memoryBefore = heapAndExternal();
  const ring = buildRing(members, options);
  collectGarbage();
  const retainedMiB = (heapAndExternal() - memoryBefore) / 2 ** 20;

  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let r = 0; r < 5; r++) {
    const changed = members.filter((_, i) => i !== r * 101);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    buildRing(changed, options);
    times.push(performance.now() - started);
    cpuTimes.push(cpuMicroseconds(process.cpuUsage(cpuBefore)) / 1000);
  }
  const lookups = timeLookups(ring, 200_000);

  const spreadRing = buildRing(makeMembers(SWEEP_SPREAD_NODES), options);
  const counts = new Map<string, number>();
  for (let i = 0; i < SWEEP_SPREAD_USERS; i++) {
    const owner = spreadRing.ownerOf(`user-${i}`)!;
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  const mean = SWEEP_SPREAD_USERS / SWEEP_SPREAD_NODES;
  let sumOfSquares = 0;
  for (const id of spreadRing.nodes) sumOfSquares += (((counts.get(id) ?? 0) - mean) / mean) ** 2;
  const samplingVariance = (1 - 1 / SWEEP_SPREAD_NODES) / mean;
  const ringSpread = Math.sqrt(Math.max(0, sumOfSquares / SWEEP_SPREAD_NODES - samplingVariance));

  return {
    vnodes,
    probes,
    rebuildMs: median(times),
    rebuildCpuMs: median(cpuTimes),
    retainedMiB,
    lookupNs: lookups.wallNs,
    lookupCpuNs: lookups.cpuNs,
    ringSpread,
  };
}

/** Runs this script in a child process with `args` and returns the JSON of its last output line. */
async function runChild<T>(args: string[], label: string): Promise<T> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', SCRIPT, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolveExit, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label} did not finish in ${CHILD_TIMEOUT_MS / 60_000} min`));
    }, CHILD_TIMEOUT_MS);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolveExit(exitCode);
    });
  });
  if (code !== 0) throw new Error(`${label} exited with ${code}:\n${output}`);
  return JSON.parse(output.trim().split('\n').pop()!) as T;
}

/** Formats a number with grouping. A negative zero, as a memory delta below GC noise gives, prints as 0. */
function formatNumber(value: number, digits: number): string {
  const rounded = Number(value.toFixed(digits));
  return (rounded === 0 ? 0 : value).toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** Targets at the largest node count, as [label, check, cell] per row of the summary. */
const TARGETS: [string, (row: RowResult) => boolean, (row: RowResult) => string][] = [
  [
    'rebuild after a membership change: at most 100 ms',
    (row) => row.rebuildMs <= 100,
    (row) =>
      `${formatNumber(row.rebuildMs, 1)} ms median, ${formatNumber(row.rebuildMinMs, 1)} fastest, ` +
      `${formatNumber(row.rebuildCpuMs, 1)} CPU (first build ${formatNumber(row.firstBuildMs, 1)})`,
  ],
  [
    'rebuild memory: at most 64 MB',
    (row) => Math.max(row.retainedMiB, row.buildAllocatedMiB, row.peakRssMiB) * 2 ** 20 <= 64e6,
    (row) =>
      `${formatNumber(row.retainedMiB, 1)} MiB retained, ${formatNumber(row.buildAllocatedMiB, 1)} allocated, ` +
      `${formatNumber(row.peakRssMiB, 1)} peak RSS growth`,
  ],
  [
    'lookup: at most 1 microsecond',
    (row) => row.lookupNs <= 1000,
    (row) =>
      `${formatNumber(row.lookupNs, 0)} ns median, ${formatNumber(row.lookupMinNs, 0)} fastest, ` +
      `${formatNumber(row.lookupCpuNs, 0)} CPU`,
  ],
  [
    'max over mean users per node: at most 1.10',
    (row) => row.maxOverMean <= 1.1,
    (row) =>
      `${formatNumber(row.maxOverMean, 3)} over ${formatNumber(row.users, 0)} users ` +
      `(uniform floor ${formatNumber(row.floorMaxOverMean, 3)})`,
  ],
  [
    'users moved by a join or leave: at most 1.1 times ideal, only to or from that node',
    (row) =>
      row.joinMovedOverIdeal <= 1.1 &&
      row.leaveMovedOverIdeal <= 1.1 &&
      row.joinMovedElsewhere === 0 &&
      row.leaveMovedFromOthers === 0,
    (row) =>
      `join ${formatNumber(row.joinMovedOverIdeal, 3)}, leave ${formatNumber(row.leaveMovedOverIdeal, 3)}, ` +
      `${row.joinMovedElsewhere + row.leaveMovedFromOthers} moved between other nodes`,
  ],
  [
    'a node of weight 2 gets about twice the users (1.9 to 2.1)',
    (row) => row.weightRatio >= 1.9 && row.weightRatio <= 2.1,
    (row) => `${formatNumber(row.weightRatio, 3)} times`,
  ],
];

/** Formats the targets against the rows of the largest node count, or nothing without one. */
function formatSummaryTable(rows: RowResult[]): string {
  const nodes = Math.max(...rows.map((row) => row.nodes));
  const largest = ALGORITHMS.map((algorithm) =>
    rows.find((row) => row.algorithm === algorithm && row.nodes === nodes),
  ).filter((row) => row !== undefined);
  if (largest.length === 0) return '';

  const lines = [
    `| target at ${formatNumber(nodes, 0)} nodes | ${largest.map((row) => `${row.algorithm} | met`).join(' | ')} |`,
    `| --- | ${largest.map(() => '--- | ---').join(' | ')} |`,
  ];
  for (const [label, check, cell] of TARGETS) {
    const cells = largest.map((row) => `${cell(row)} | ${check(row) ? 'yes' : 'no'}`);
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function formatCostTable(rows: RowResult[]): string {
  const lines = [
    '| algorithm | nodes | rebuilds | rebuild ms | fastest rebuild ms | rebuild CPU ms | first build ms | retained MiB | allocated in build MiB | peak RSS growth MiB | lookup ns | fastest lookup ns | lookup CPU ns |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    const cells = [
      row.algorithm,
      formatNumber(row.nodes, 0),
      String(row.rebuilds),
      formatNumber(row.rebuildMs, 1),
      formatNumber(row.rebuildMinMs, 1),
      formatNumber(row.rebuildCpuMs, 1),
      formatNumber(row.firstBuildMs, 1),
      formatNumber(row.retainedMiB, 1),
      formatNumber(row.buildAllocatedMiB, 1),
      formatNumber(row.peakRssMiB, 1),
      formatNumber(row.lookupNs, 0),
      formatNumber(row.lookupMinNs, 0),
      formatNumber(row.lookupCpuNs, 0),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function formatPlacementTable(rows: RowResult[]): string {
  const lines = [
    '| algorithm | nodes | users | max/mean | uniform floor | join moved / ideal | moved elsewhere | leave moved / ideal | moved from others | weight 2 / weight 1 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    const cells = [
      row.algorithm,
      formatNumber(row.nodes, 0),
      formatNumber(row.users, 0),
      formatNumber(row.maxOverMean, 3),
      formatNumber(row.floorMaxOverMean, 3),
      formatNumber(row.joinMovedOverIdeal, 3),
      String(row.joinMovedElsewhere),
      formatNumber(row.leaveMovedOverIdeal, 3),
      String(row.leaveMovedFromOthers),
      formatNumber(row.weightRatio, 3),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * Returns the spread that the gaps next to each point predict: 1/sqrt(2 V) with one probe,
 * where a point captures half of each neighbouring gap, and about 1/sqrt(4 V k) with k probes.
 */
function modelSpread(vnodes: number, probes: number): number {
  return probes === 1 ? 1 / Math.sqrt(2 * vnodes) : 1 / Math.sqrt(4 * vnodes * probes);
}

function formatSweepTable(results: SweepResult[]): string {
  const lines = [
    `| vnodes | probes | points at ${formatNumber(SWEEP_NODES, 0)} nodes | rebuild ms | rebuild CPU ms | retained MiB | lookup ns | lookup CPU ns | ring spread | model spread |`,
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const result of results) {
    const cells = [
      String(result.vnodes),
      String(result.probes),
      formatNumber(result.vnodes * SWEEP_NODES, 0),
      formatNumber(result.rebuildMs, 1),
      formatNumber(result.rebuildCpuMs, 1),
      formatNumber(result.retainedMiB, 1),
      formatNumber(result.lookupNs, 0),
      formatNumber(result.lookupCpuNs, 0),
      `${formatNumber(result.ringSpread * 100, 2)}%`,
      `${formatNumber(modelSpread(result.vnodes, result.probes) * 100, 2)}%`,
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function describeMachine(): string {
  const cpuInfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuInfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown CPU';
  return `${model}, ${cpus().length} cores, Node ${process.version}`;
}

function formatResults(
  rows: RowResult[],
  sweep: SweepResult[],
  machine: string,
  loadAtStart: number[],
  minutes: number,
): string {
  const date = new Date().toISOString().slice(0, 10);
  const load = loadAtStart.map((value) => value.toFixed(2)).join(', ');
  return [
    BEGIN_MARK,
    '',
    `Measured on ${date} with \`npx tsx loadtests/ring-simulation.ts\` (${formatNumber(minutes, 1)} min) on ${machine}.`,
    `The machine is shared: its load average at the start was ${load} (1, 5 and 15 min).`,
    '',
    formatSummaryTable(rows),
    '',
    formatCostTable(rows),
    '',
    formatPlacementTable(rows),
    '',
    ...(sweep.length > 0
      ? [
          `Sweep of compact settings at ${formatNumber(SWEEP_NODES, 0)} nodes, with the ring spread measured at ` +
            `${formatNumber(SWEEP_SPREAD_NODES, 0)} nodes over ${formatNumber(SWEEP_SPREAD_USERS, 0)} users:`,
          '',
          formatSweepTable(sweep),
          '',
        ]
      : []),
    END_MARK,
  ].join('\n');
}

function writeResults(block: string): void {
  const section = `${SECTION_HEADING}\n\n${block}\n`;
  if (!existsSync(OUTPUT)) {
    writeFileSync(OUTPUT, `# Switchboard capacity model\n\n${section}`);
    return;
  }

  const text = readFileSync(OUTPUT, 'utf8');
  const begin = text.indexOf(BEGIN_MARK);
  const end = text.indexOf(END_MARK);
  if (begin >= 0 && end > begin) {
    writeFileSync(OUTPUT, text.slice(0, begin) + block + text.slice(end + END_MARK.length));
    return;
  }
  writeFileSync(OUTPUT, `${text.trimEnd()}\n\n${section}`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadAtStart = loadavg();
  const rows: RowResult[] = [];
  for (const algorithm of ALGORITHMS) {
    for (const nodes of SIZES) {
      const users = algorithm === 'compact' ? COMPACT_USERS : HASHRING_USERS;
      process.stderr.write(`measuring ${algorithm} at ${nodes} nodes over ${users} users\n`);
      const label = `${algorithm} at ${nodes} nodes`;
      rows.push(await runChild<RowResult>(['--row', algorithm, String(nodes), String(users)], label));
    }
  }
  const sweep: SweepResult[] = [];
  if (RUN_SWEEP) {
    for (const [vnodes, probes] of SWEEP_SETTINGS) {
      process.stderr.write(`sweeping compact with vnodes ${vnodes} and probes ${probes}\n`);
      const label = `the sweep of vnodes ${vnodes} and probes ${probes}`;
      sweep.push(await runChild<SweepResult>(['--sweep', String(vnodes), String(probes)], label));
    }
  }
  const minutes = (performance.now() - started) / 60_000;

  console.log(`${formatSummaryTable(rows)}\n\n${formatCostTable(rows)}\n\n${formatPlacementTable(rows)}`);
  if (sweep.length > 0) console.log(`\n${formatSweepTable(sweep)}`);
  if (OUTPUT === '-') return;
  writeResults(formatResults(rows, sweep, describeMachine(), loadAtStart, minutes));
  console.log(`\nwrote ${OUTPUT}`);
}

if (process.argv[2] === '--row') {
  const [algorithm, nodes, users] = process.argv.slice(3);
  const row = measureRow(
    algorithm as RingAlgorithm,
    parseCount(nodes!, 'nodes'),
    parseCount(users!, 'users'),
  );
  console.log(JSON.stringify(row));
} else if (process.argv[2] === '--sweep') {
  const [vnodes, probes] = process.argv.slice(3);
  console.log(JSON.stringify(measureSweep(parseCount(vnodes!, 'vnodes'), parseCount(probes!, 'probes'))));
} else {
  await main();
}
