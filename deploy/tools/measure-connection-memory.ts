/**
 * Measures the resident memory that idle WebSocket connections add to a chat node, the
 * figure behind the chat node's memory request in the Helm chart's values.yaml.
 *
 * It starts the embedded profile with one chat node in a child process on free loopback
 * ports. From this process it opens SWB_MEASURE_CONNECTIONS (default 8000) connections for
 * distinct users and waits for each `welcome`. It reads the child's resident set size (VmRSS)
 * before, halfway and at the end. The per-connection figure is the slope over the second half, so the
 * first allocations of each pool do not count.
 *
 *   npx tsx deploy/tools/measure-connection-memory.ts
 *
 * Both processes hold one descriptor per connection, so `ulimit -n` must exceed the count.
 * The run stops with an error after 180 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { TokenIssuer } from '@switchboard/core';

const ROOT = resolve(import.meta.dirname, '../..');
const CONNECTIONS = Number(process.env.SWB_MEASURE_CONNECTIONS ?? 8000);
const OPEN_CONCURRENCY = 200;
const SETTLE_MS = 3000;
const DEADLINE_MS = 180_000;

function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`VmRSS not found in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

async function startNode(dataDir: string, secret: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/launcher/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      SWB_DATA_DIR: dataDir,
      SWB_HOST: '127.0.0.1',
      SWB_HTTP_PORT: '0',
      SWB_CHAT_PORT_BASE: '0',
      SWB_CHAT_NODES: '1',
      SWB_TOKEN_SECRET: secret,
      SWB_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`timed out after 60 s waiting for the chat node to start:\n${output}`)),
      60_000,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /chat node \S+: (ws:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`launcher exited with ${code}:\n${output}`)));
  });
  return { child, url };
}

function openConnection(url: string, token: string): Promise<WebSocket> {
  return new Promise((resolveSocket, reject) => {
    const socket = new WebSocket(`${url}?access_token=${token}`);
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error('timed out after 10 s waiting for the welcome frame'));
    }, 10_000);
    socket.once('message', (data) => {
      clearTimeout(timer);
      const frame = JSON.parse(data.toString()) as { type: string };
      if (frame.type === 'welcome') resolveSocket(socket);
      else reject(new Error(`expected a welcome frame, got ${frame.type}`));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function openMany(url: string, tokens: TokenIssuer, from: number, to: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let start = from; start < to; start += OPEN_CONCURRENCY) {
    const end = Math.min(start + OPEN_CONCURRENCY, to);
    const batch = await Promise.all(
      Array.from({ length: end - start }, async (_, i) =>
        openConnection(url, await tokens.issueAccess(`measure_${start + i}`)),
      ),
    );
    sockets.push(...batch);
  }
  return sockets;
}

const settle = () => new Promise((resolveWait) => setTimeout(resolveWait, SETTLE_MS));

async function main(): Promise<void> {
  const deadline = setTimeout(() => {
    process.stderr.write(`measurement timed out after ${DEADLINE_MS / 1000} s\n`);
    process.exit(1);
  }, DEADLINE_MS);
  deadline.unref();

  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-measure-'));
  const secret = randomBytes(48).toString('base64url');
  const tokens = new TokenIssuer({ secret, accessTtlSeconds: 3600, refreshTtlSeconds: 3600 });
  const { child, url } = await startNode(dataDir, secret);
  const pid = child.pid!;
  const sockets: WebSocket[] = [];
  try {
    // One connection first, so that the first welcome's code paths are compiled and allocated.
    sockets.push(...(await openMany(url, tokens, 0, 1)));
    await settle();
    const empty = readRssBytes(pid);
    const half = Math.floor(CONNECTIONS / 2);
    sockets.push(...(await openMany(url, tokens, 1, half)));
    await settle();
    const atHalf = readRssBytes(pid);
    sockets.push(...(await openMany(url, tokens, half, CONNECTIONS)));
    await settle();
    const atEnd = readRssBytes(pid);

    const perConnection = (atEnd - atHalf) / (CONNECTIONS - half);
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    process.stdout.write(
      [
        `machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
        `connections: ${CONNECTIONS}`,
        `rss with 1 connection: ${mib(empty)} MiB`,
        `rss with ${half} connections: ${mib(atHalf)} MiB`,
        `rss with ${CONNECTIONS} connections: ${mib(atEnd)} MiB`,
        `rss per connection (second half): ${(perConnection / 1024).toFixed(1)} KiB`,
        `rss per connection (all): ${((atEnd - empty) / (CONNECTIONS - 1) / 1024).toFixed(1)} KiB`,
        '',
      ].join('\n'),
    );
  } finally {
    for (const socket of sockets) socket.terminate();
    child.kill('SIGTERM');
    await new Promise((resolveExit) => child.once('exit', resolveExit));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`measure-connection-memory: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
