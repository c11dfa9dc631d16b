/**
 * Load generator for one-to-one chat: each pair has a sender on one chat node and a
 * receiver on another. Runs a list of offered rates for a fixed time each and prints one
 * JSON result line per step on stdout.
 *
 * Input (JSON in the SWB_BENCH_WORKER environment variable): see `WorkerInput`.
 */
import WebSocket from 'ws';
import hdr from 'hdr-histogram-js';
import type { ServerFrame } from '@switchboard/protocol';

export interface WorkerPair {
  sender: { id: string; token: string; url: string };
  receiver: { id: string; token: string; url: string };
}

export interface WorkerInput {
  pairs: WorkerPair[];
  /** Offered rates in messages per second, over all pairs. */
  rates: number[];
  stepSeconds: number;
  /** Stop after a step whose p99 exceeds this many milliseconds. */
  stopAboveP99Ms: number;
  bodyBytes: number;
}

export interface StepResult {
  offeredPerSecond: number;
  sent: number;
  acked: number;
  delivered: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  deliveredPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  workerCpuSeconds: number;
}

const input = JSON.parse(process.env.SWB_BENCH_WORKER ?? 'null') as WorkerInput | null;
if (input === null) throw new Error('SWB_BENCH_WORKER is not set');

const now = () => performance.timeOrigin + performance.now();

function open(url: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?access_token=${encodeURIComponent(token)}`);
    ws.once('error', reject);
    ws.once('message', (data) => {
      const frame = JSON.parse(data.toString()) as ServerFrame;
      if (frame.type !== 'welcome') reject(new Error(`expected welcome, got ${frame.type}`));
      else resolve(ws);
    });
  });
}

interface PairState {
  sender: WebSocket;
  receiver: WebSocket;
  senderId: string;
  receiverId: string;
  lastSeq: number;
  seen: Set<number>;
}

let histogram = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 60_000_000,
  numberOfSignificantValueDigits: 3,
});
let delivered = 0;
let duplicated = 0;
let outOfOrder = 0;
let acked = 0;

async function main(job: WorkerInput): Promise<void> {
  const states: PairState[] = [];
  for (const pair of job.pairs) {
    const sender = await open(pair.sender.url, pair.sender.token);
    const receiver = await open(pair.receiver.url, pair.receiver.token);
    const state: PairState = {
      sender,
      receiver,
      senderId: pair.sender.id,
      receiverId: pair.receiver.id,
      lastSeq: 0,
      seen: new Set(),
    };
    sender.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as ServerFrame;
      if (frame.type === 'ack') acked++;
      else if (frame.type === 'error') process.stderr.write(`sender error ${frame.code}: ${frame.message}\n`);
    });
    receiver.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as ServerFrame;
      if (frame.type !== 'message' || frame.from !== state.senderId) return;
      if (state.seen.has(frame.seq)) {
        duplicated++;
        return;
      }
      state.seen.add(frame.seq);
      if (frame.seq < state.lastSeq) outOfOrder++;
      state.lastSeq = Math.max(state.lastSeq, frame.seq);
      const sentAt = Number(frame.body.slice(0, frame.body.indexOf('|')));
      histogram.recordValue(Math.max(1, Math.round((now() - sentAt) * 1000)));
      delivered++;
    });
    states.push(state);
  }

  for (const rate of job.rates) {
    const result = await runStep(job, states, rate);
    process.stdout.write(JSON.stringify(result) + '\n');
    if (result.p99Ms > job.stopAboveP99Ms || result.deliveredPerSecond < rate * 0.8) break;
  }
  for (const state of states) {
    state.sender.close();
    state.receiver.close();
  }
}

async function runStep(job: WorkerInput, states: PairState[], rate: number): Promise<StepResult> {
  histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  delivered = 0;
  duplicated = 0;
  outOfOrder = 0;
  acked = 0;
  const cpuBefore = process.cpuUsage();

  const tickMs = 5;
  const started = now();
  const endAt = started + job.stepSeconds * 1000;
  let sent = 0;
  let cursor = 0;
  const padding = 'x'.repeat(job.bodyBytes);
  while (now() < endAt) {
    const due = Math.floor(((now() - started) / 1000) * rate) - sent;
    for (let i = 0; i < due; i++) {
      const state = states[cursor++ % states.length]!;
      const number = `${cursor}`;
      const head = `${now().toFixed(3)}|${number}#`;
      const body = head + padding.slice(head.length);
      state.sender.send(
        JSON.stringify({ type: 'send', id: `b${rate}-${number}`, to: state.receiverId, body }),
      );
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  const sendSeconds = (now() - started) / 1000;

  // Wait for stragglers, bounded.
  const drainUntil = now() + 10_000;
  while ((delivered < sent || acked < sent) && now() < drainUntil) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const cpu = process.cpuUsage(cpuBefore);
  return {
    offeredPerSecond: rate,
    sent,
    acked,
    delivered,
    lost: sent - delivered,
    duplicated,
    outOfOrder,
    deliveredPerSecond: Math.round(delivered / sendSeconds),
    p50Ms: histogram.getValueAtPercentile(50) / 1000,
    p99Ms: histogram.getValueAtPercentile(99) / 1000,
    p999Ms: histogram.getValueAtPercentile(99.9) / 1000,
    maxMs: histogram.maxValue / 1000,
    workerCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

main(input).catch((err: unknown) => {
  process.stderr.write(`worker failed: ${String(err)}\n`);
  process.exit(1);
});
