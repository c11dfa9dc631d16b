/**
 * Counts WebSocket connections that a chat node closes after the 101 response and before
 * their `welcome`, and times the upgrades.
 *
 * One embedded chat node (in-process bus, file log, SQLite in a temporary directory) takes
 * SWB_UPGRADE_TOTAL connections (default 8,000), SWB_UPGRADE_CONCURRENCY at a time (default
 * 200), from 50 users. Each connection waits for its first frame and closes. A busy loop of
 * 3 ms every 5 ms keeps the event loop loaded, as on a busy node. Prints one JSON line.
 * Usage: npx tsx loadtests/upgrade-stress.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createLogger, MembershipView, Messenger, NodeHeartbeat, TokenIssuer } from '@switchboard/core';
import { FileLog, InProcessBus, openSqlite } from '@switchboard/embedded';
import { ChatNode } from '@switchboard/chat-node';

const TOTAL = Number(process.env.SWB_UPGRADE_TOTAL ?? 8_000);
const CONCURRENCY = Number(process.env.SWB_UPGRADE_CONCURRENCY ?? 200);
const USERS = 50;

const logger = createLogger('upgrade-stress', { level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'switchboard-upgrade-stress-'));
const bus = new InProcessBus();
const log = await FileLog.open({ dir: join(dir, 'log'), logger });
const sqlite = openSqlite(join(dir, 'switchboard.db'));
const view = new MembershipView({ bus, logger, refreshMs: 50 });
await view.start();
const tokens = new TokenIssuer({
  secret: 'upgrade-stress-secret-upgrade-stress-0123',
  accessTtlSeconds: 600,
  refreshTtlSeconds: 3600,
});
const node = new ChatNode({
  id: 'node-1',
  host: '127.0.0.1',
  port: 0,
  bus,
  placement: view,
  createHeartbeat: (info) => new NodeHeartbeat({ bus, node: info, intervalMs: 500, ttlMs: 3000, logger }),
  messenger: new Messenger({
    store: sqlite.store,
    sequencer: sqlite.sequencer,
    log,
    logger,
    persisterGroup: 'persister',
  }),
  tokens,
  logger,
  policy: { maxConnectionsPerUser: TOTAL },
});
await node.start();
await view.refresh();

const load = setInterval(() => {
  const end = Date.now() + 3;
  while (Date.now() < end);
}, 5);
const userTokens = await Promise.all(
  Array.from({ length: USERS }, (_, index) => tokens.issueAccess(`u_stress${index}`)),
);

let started = 0;
let welcomed = 0;
let closedBeforeWelcome = 0;
let otherCloses = 0;

/** Opens one connection and settles on its first frame or its close. */
function connectOnce(index: number): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${node.port}/ws?access_token=${userTokens[index % USERS]}`);
  return new Promise((resolve) => {
    let settled = false;
    ws.on('message', () => {
      if (settled) return;
      settled = true;
      welcomed++;
      ws.close();
      resolve();
    });
    ws.on('close', (code) => {
      if (settled) return;
      settled = true;
      if (code === 1006) closedBeforeWelcome++;
      else otherCloses++;
      resolve();
    });
    ws.on('error', () => undefined);
  });
}

const startedAt = Date.now();
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (started < TOTAL) await connectOnce(started++);
  }),
);
const elapsedMs = Date.now() - startedAt;
clearInterval(load);

console.log(
  JSON.stringify({
    total: TOTAL,
    concurrency: CONCURRENCY,
    welcomed,
    closedBeforeWelcome,
    otherCloses,
    elapsedMs,
    machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown'}, Node ${process.version}`,
  }),
);

await node.stop();
await view.stop();
await log.close();
await sqlite.close();
await bus.close();
rmSync(dir, { recursive: true, force: true });
