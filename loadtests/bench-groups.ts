/**
 * Fan-out for large audiences on the embedded profile: deliveries per second to a 1,000-member
 * group (pushed), and notices and pulled pages for a 100,000-member channel (notice + pull).
 *
 *   npx tsx loadtests/bench-groups.ts
 *
 * It fills a fresh data directory with users and the two groups, starts the embedded cluster
 * (two chat nodes) as a child process, and drives it from this process over loopback with
 * `ws` clients that sign their own access tokens. The run is bounded: every step lasts
 * SWB_BENCH_STEP_SECONDS (6) and the whole run is stopped after 10 minutes. Results go into
 * docs/benchmarks.md between the `bench:groups` markers; other sections are left alone.
 *
 * Variables: SWB_BENCH_GROUP_MEMBERS (1000), SWB_BENCH_GROUP_RATES (messages/s, "10,20,40,60,80"),
 * SWB_BENCH_CHANNEL_MEMBERS (100000), SWB_BENCH_CHANNEL_ONLINE (connected readers, 2000),
 * SWB_BENCH_CHANNEL_RATE (messages/s, 20), SWB_BENCH_OUTPUT (the page to update).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { TokenIssuer, type GroupMember } from '@switchboard/core';
import { openSqlite } from '@switchboard/embedded';
import type { FetchedFrame, MessageFrame, NoticeFrame, ServerFrame } from '@switchboard/protocol';

const ROOT = resolve(import.meta.dirname, '..');
const GROUP_MEMBERS = Number(process.env.SWB_BENCH_GROUP_MEMBERS ?? 1000);
const GROUP_RATES = (process.env.SWB_BENCH_GROUP_RATES ?? '10,20,40,60,80').split(',').map(Number);
const CHANNEL_MEMBERS = Number(process.env.SWB_BENCH_CHANNEL_MEMBERS ?? 100_000);
const CHANNEL_ONLINE = Number(process.env.SWB_BENCH_CHANNEL_ONLINE ?? 2000);
const CHANNEL_RATE = Number(process.env.SWB_BENCH_CHANNEL_RATE ?? 20);
const STEP_SECONDS = Number(process.env.SWB_BENCH_STEP_SECONDS ?? 6);
const OUTPUT = process.env.SWB_BENCH_OUTPUT ?? join(ROOT, 'docs/benchmarks.md');
const RUN_LIMIT_MS = 10 * 60_000;
const SECRET = 'group-bench-secret-group-bench-secret-0123';
const GROUP_CONV = 'g.bench-group';
const CHANNEL_CONV = 'g.bench-channel';
const SENDERS = 10;
/** Clock ticks per second of /proc/<pid>/stat on Linux. */
const CLOCK_TICKS = 100;

interface Client {
  user: string;
  ws: WebSocket;
  onFrame: (frame: ServerFrame) => void;
}

interface GroupStep {
  offered: number;
  sent: number;
  deliveries: number;
  perSecond: number;
  p50: number;
  p99: number;
  complete: boolean;
  serverCpu: number;
}

interface ChannelResult {
  members: number;
  online: number;
  rate: number;
  sent: number;
  noticesPerSecond: number;
  pagesPerSecond: number;
  pulledPerSecond: number;
  p50: number;
  p99: number;
  complete: boolean;
  serverCpu: number;
}

function userId(index: number): string {
  return `bench-u${index}`;
}

/** Writes the users and both groups into the store before the cluster starts. */
async function populate(dataDir: string): Promise<void> {
  const started = Date.now();
  const sqlite = openSqlite(join(dataDir, 'switchboard.db'));
  const count = Math.max(GROUP_MEMBERS, CHANNEL_MEMBERS);
  for (let index = 0; index < count; index++) {
    const id = userId(index);
    await sqlite.store.createUser({
      id,
      username: id,
      displayName: id,
      passwordHash: 'unusable',
      createdAt: 1,
    });
  }
  const members = (size: number): GroupMember[] =>
    Array.from({ length: size }, (_, index) => ({
      user: userId(index),
      role: index === 0 ? 'admin' : 'member',
      joinedSeq: 0,
      leftSeq: null,
    }));
  const group = { createdBy: userId(0), createdAt: Date.now(), version: 'bench' };
  await sqlite.store.createGroup(
    { ...group, conv: GROUP_CONV, kind: 'group', name: 'Bench group' },
    members(GROUP_MEMBERS),
  );
  await sqlite.store.createGroup(
    { ...group, conv: CHANNEL_CONV, kind: 'channel', name: 'Bench channel' },
    members(CHANNEL_MEMBERS),
  );
  await sqlite.close();
  console.log(`populated ${count} users and two groups in ${Date.now() - started} ms`);
}

async function startServer(dataDir: string): Promise<{ child: ChildProcess; apiUrl: string; pid: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'loadtests/harness/group-bench-server.ts'], {
    cwd: ROOT,
    env: { ...process.env, SWB_DATA_DIR: dataDir, SWB_TOKEN_SECRET: SECRET, SWB_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await new Promise<{ apiUrl: string; pid: number }>((resolveReady, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`server not ready in 120 s:\n${output}`)), 120_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /GROUP_BENCH_READY (\{.*\})/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveReady(JSON.parse(match[1]!) as { apiUrl: string; pid: number });
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  return { child, ...ready };
}

/** CPU seconds the process has used, from /proc; 0 where /proc is missing. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

async function routeOf(apiUrl: string, token: string): Promise<string> {
  const response = await fetch(`${apiUrl}/v1/route`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`route failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { url: string }).url;
}

/** Connects users `from` to `to - 1`, 50 at a time, and resolves once each has its welcome. */
async function connect(apiUrl: string, tokens: TokenIssuer, from: number, to: number): Promise<Client[]> {
  const clients: Client[] = [];
  for (let start = from; start < to; start += 50) {
    const batch = [];
    for (let index = start; index < Math.min(to, start + 50); index++)
      batch.push(connectOne(apiUrl, tokens, index));
    clients.push(...(await Promise.all(batch)));
  }
  return clients;
}

async function connectOne(apiUrl: string, tokens: TokenIssuer, index: number): Promise<Client> {
  const user = userId(index);
  const token = await tokens.issueAccess(user);
  const url = await routeOf(apiUrl, token);
  const ws = new WebSocket(`${url}?access_token=${token}`);
  const client: Client = { user, ws, onFrame: () => undefined };
  await new Promise<void>((resolveOpen, reject) => {
    ws.once('error', reject);
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as ServerFrame;
      if (frame.type === 'welcome') resolveOpen();
      client.onFrame(frame);
    });
  });
  return client;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

function closeAll(clients: Client[]): void {
  for (const client of clients) client.ws.close();
}

/** Sends at `rate` messages per second, spread over the senders, for STEP_SECONDS. */
async function sendAtRate(
  senders: Client[],
  conv: string,
  rate: number,
  onSent: (id: string) => void,
): Promise<number> {
  let sent = 0;
  const started = Date.now();
  while (Date.now() - started < STEP_SECONDS * 1000) {
    const due = Math.floor(((Date.now() - started) / 1000) * rate);
    while (sent < due) {
      const sender = senders[sent % senders.length]!;
      const id = `b${Date.now().toString(36)}x${sent}`;
      sender.ws.send(JSON.stringify({ type: 'send', id, conv, body: `t=${Date.now()}` }));
      onSent(id);
      sent++;
    }
    await sleep(5);
  }
  return sent;
}

async function runGroup(apiUrl: string, pid: number, tokens: TokenIssuer): Promise<GroupStep[]> {
  const clients = await connect(apiUrl, tokens, 0, GROUP_MEMBERS);
  console.log(`group: ${clients.length} members connected`);
  const steps: GroupStep[] = [];
  for (const rate of GROUP_RATES) {
    const latencies: number[] = [];
    const perMessage = new Map<number, number>();
    const acked = new Set<number>();
    for (const client of clients) {
      client.onFrame = (frame) => {
        if (frame.type === 'ack') acked.add(frame.seq);
        if (frame.type !== 'message' || frame.conv !== GROUP_CONV) return;
        latencies.push(Date.now() - Number((frame as MessageFrame).body.slice(2)));
        perMessage.set(frame.seq, (perMessage.get(frame.seq) ?? 0) + 1);
      };
    }
    const cpuBefore = cpuSeconds(pid);
    const started = Date.now();
    const sent = await sendAtRate(clients.slice(0, SENDERS), GROUP_CONV, rate, () => undefined);
    const elapsed = (Date.now() - started) / 1000;
    const cpu = (cpuSeconds(pid) - cpuBefore) / elapsed;
    // Drain: wait until every acknowledged message reached every member, or 10 s.
    const deadline = Date.now() + 10_000;
    const complete = () =>
      acked.size >= sent && [...acked].every((seq) => perMessage.get(seq) === GROUP_MEMBERS);
    while (!complete() && Date.now() < deadline) await sleep(50);
    latencies.sort((a, b) => a - b);
    const deliveries = latencies.length;
    steps.push({
      offered: rate,
      sent,
      deliveries,
      perSecond: Math.round(deliveries / Math.max(elapsed, (Date.now() - started) / 1000)),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      complete: complete(),
      serverCpu: Math.round(cpu * 100),
    });
    console.log(`group ${rate} msg/s:`, steps.at(-1));
  }
  closeAll(clients);
  return steps;
}

async function runChannel(apiUrl: string, pid: number, tokens: TokenIssuer): Promise<ChannelResult> {
  const [admin] = await connect(apiUrl, tokens, 0, 1);
  const readers = await connect(apiUrl, tokens, 1, 1 + CHANNEL_ONLINE);
  console.log(`channel: ${readers.length} of ${CHANNEL_MEMBERS} members connected`);
  let notices = 0;
  let pages = 0;
  let pulled = 0;
  const latencies: number[] = [];
  let lastSent = 0;
  const fetchRangeMax = 100;

  for (const reader of readers) {
    let last = 0;
    let target = 0;
    let inFlight = false;
    const pull = () => {
      if (inFlight || last >= target) return;
      const from = last === 0 ? Math.max(1, target - fetchRangeMax + 1) : last + 1;
      inFlight = true;
      reader.ws.send(
        JSON.stringify({
          type: 'fetch',
          conv: CHANNEL_CONV,
          from,
          to: Math.min(target, from + fetchRangeMax - 1),
        }),
      );
    };
    reader.onFrame = (frame) => {
      if (frame.type === 'notice' && (frame as NoticeFrame).conv === CHANNEL_CONV) {
        notices++;
        target = Math.max(target, frame.seq);
        pull();
      } else if (frame.type === 'fetched') {
        const page = frame as FetchedFrame;
        pages++;
        inFlight = false;
        for (const message of page.messages) {
          pulled++;
          if (message.body.startsWith('t=')) latencies.push(Date.now() - Number(message.body.slice(2)));
          last = Math.max(last, message.seq);
        }
        last = Math.max(last, ...page.missing);
        pull();
      } else if (frame.type === 'error') {
        // A rejected fetch (rate or persister wait) is tried again on the next notice.
        inFlight = false;
      }
    };
  }
  admin!.onFrame = (frame) => {
    if (frame.type === 'ack') lastSent = Math.max(lastSent, frame.seq);
  };

  const cpuBefore = cpuSeconds(pid);
  const started = Date.now();
  const sent = await sendAtRate([admin!], CHANNEL_CONV, CHANNEL_RATE, () => undefined);
  const elapsed = (Date.now() - started) / 1000;
  const cpu = (cpuSeconds(pid) - cpuBefore) / elapsed;
  const deadline = Date.now() + 15_000;
  const expected = sent * readers.length;
  while (latencies.length < expected && Date.now() < deadline) await sleep(50);
  latencies.sort((a, b) => a - b);
  const seconds = (Date.now() - started) / 1000;
  closeAll([admin!, ...readers]);
  return {
    members: CHANNEL_MEMBERS,
    online: readers.length,
    rate: CHANNEL_RATE,
    sent,
    noticesPerSecond: Math.round(notices / seconds),
    pagesPerSecond: Math.round(pages / seconds),
    pulledPerSecond: Math.round(pulled / seconds),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    complete: latencies.length >= expected && lastSent > 0,
    serverCpu: Math.round(cpu * 100),
  };
}

function renderSection(group: GroupStep[], channel: ChannelResult, load: string): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const best = group.filter((step) => step.complete).at(-1);
  const lines = [
    '<!-- bench:groups:start -->',
    '## Groups and channels, embedded profile, two chat nodes',
    '',
    `Command: \`npx tsx loadtests/bench-groups.ts\`, ${new Date().toISOString().slice(0, 10)}.`,
    `Machine: ${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}.`,
    `Load average at the start: ${load}. The load generator ran on the same machine.`,
    '',
    `### ${GROUP_MEMBERS}-member group (pushed to every member)`,
    '',
    'Every member is connected; 10 of them send. A delivery is one `message` frame reaching one',
    'member; latency is from the sender writing the frame to a member parsing the delivery.',
    '',
    '| offered msg/s | sent | deliveries | deliveries/s | p50 ms | p99 ms | every member got every message | server CPU |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
    ...group.map(
      (step) =>
        `| ${step.offered} | ${step.sent} | ${step.deliveries} | ${step.perSecond} | ${step.p50} | ${step.p99} | ${step.complete ? 'yes' : 'no'} | ${step.serverCpu}% |`,
    ),
    '',
    `### ${CHANNEL_MEMBERS.toLocaleString('en-US')}-member channel (notice, then pull)`,
    '',
    `${channel.online} members are connected and the rest are offline. The admin posts ${channel.rate}`,
    'messages per second; nodes send each connected member at most one `notice` per second, and',
    'each member then fetches the new range, one page at a time. Latency is from the post to the',
    'member parsing the pulled message.',
    '',
    '| sent | notices/s | pages served/s | messages pulled/s | p50 ms | p99 ms | every reader got every message | server CPU |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
    `| ${channel.sent} | ${channel.noticesPerSecond} | ${channel.pagesPerSecond} | ${channel.pulledPerSecond} | ${channel.p50} | ${channel.p99} | ${channel.complete ? 'yes' : 'no'} | ${channel.serverCpu}% |`,
    '',
    'What this means for the design (an estimate, not a measurement of a fleet): if a tenth of the',
    '230,000 messages per second go to groups with 50 members on average, members receive about',
    '1.2 million group deliveries per second.',
  ];
  if (best !== undefined) {
    lines.push(
      `At the ${best.perSecond.toLocaleString('en-US')} deliveries per second measured here for one embedded process,`,
      `that is about ${Math.ceil(1_150_000 / best.perSecond)} such processes; the cluster profile spreads the same work over chat nodes,`,
      'each of which pushes only to its own connections.',
    );
  }
  lines.push(
    'A channel costs each node one notice per channel per second per connected member, plus the',
    'pages those members fetch, whatever the posting rate, so its cost follows the readers online.',
    '<!-- bench:groups:end -->',
  );
  return lines.join('\n');
}

function writeSection(section: string): void {
  const start = '<!-- bench:groups:start -->';
  const end = '<!-- bench:groups:end -->';
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
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-group-bench-'));
  let server: { child: ChildProcess; apiUrl: string; pid: number } | null = null;
  const limit = setTimeout(() => {
    console.error(`run took longer than ${RUN_LIMIT_MS / 60_000} minutes; stopping`);
    server?.child.kill('SIGKILL');
    process.exit(1);
  }, RUN_LIMIT_MS);
  try {
    await populate(dataDir);
    server = await startServer(dataDir);
    const tokens = new TokenIssuer({ secret: SECRET, accessTtlSeconds: 3600, refreshTtlSeconds: 3600 });
    const group = await runGroup(server.apiUrl, server.pid, tokens);
    const channel = await runChannel(server.apiUrl, server.pid, tokens);
    console.log('channel:', channel);
    writeSection(renderSection(group, channel, load));
    console.log(`wrote the groups section of ${OUTPUT}`);
  } finally {
    clearTimeout(limit);
    server?.child.kill('SIGTERM');
    await sleep(500);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
