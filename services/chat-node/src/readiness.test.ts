import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLogger,
  DependencyProbe,
  MembershipView,
  Messenger,
  NodeHeartbeat,
  READINESS_PROBE_CONVERSATION,
  TokenIssuer,
  type ReadinessReport,
} from '@switchboard/core';
import { FileLog, InProcessBus, openSqlite } from '@switchboard/embedded';
import { SwitchboardMetrics } from '@switchboard/metrics';
import { parseExposition, sumSamples } from '@switchboard/metrics/testing';
import { CloseCode } from '@switchboard/protocol';
import { ChatNode } from './chat-node.ts';

const logger = createLogger('test', { level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Starts one chat node over the embedded adapters, with probes that check on every request. */
async function startNode() {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-chat-node-'));
  const bus = new InProcessBus();
  const log = await FileLog.open({ dir: join(dir, 'log'), logger });
  const sqlite = openSqlite(join(dir, 'switchboard.db'));
  const membership = new MembershipView({ bus, logger, refreshMs: 50 });
  await membership.start();
  const tokens = new TokenIssuer({
    secret: 'chat-node-readiness-test-secret-012345',
    accessTtlSeconds: 60,
    refreshTtlSeconds: 3600,
  });
  const metrics = new SwitchboardMetrics({ processMetrics: false });
  // freshMs 0: every /readyz runs the checks, so a failure shows at once.
  const dependencies = [
    new DependencyProbe({ name: 'bus', freshMs: 0, check: () => bus.members(), logger }),
    new DependencyProbe({ name: 'log', freshMs: 0, check: () => log.lag('persister'), logger }),
    new DependencyProbe({
      name: 'store',
      freshMs: 0,
      check: () => sqlite.store.maxSeq(READINESS_PROBE_CONVERSATION),
      logger,
    }),
  ];
  const node = new ChatNode({
    id: 'node-1',
    host: '127.0.0.1',
    port: 0,
    bus,
    placement: membership,
    createHeartbeat: (info) => new NodeHeartbeat({ bus, node: info, intervalMs: 100, ttlMs: 1000, logger }),
    messenger: new Messenger({
      store: sqlite.store,
      sequencer: sqlite.sequencer,
      log,
      logger,
      persisterGroup: 'persister',
    }),
    tokens,
    logger,
    policy: { drainWindowMs: 600 },
    metrics,
    dependencies,
  });
  await node.start();
  await membership.refresh();
  cleanups.push(async () => {
    await node.stop();
    await membership.stop();
    await log.close();
    await sqlite.close();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const origin = `http://127.0.0.1:${node.port}`;
  return { node, log, tokens, origin };
}

async function readyz(origin: string): Promise<{ status: number; report: ReadinessReport }> {
  const response = await fetch(`${origin}/readyz`);
  return { status: response.status, report: (await response.json()) as ReadinessReport };
}

describe('chat node readiness', () => {
  it('is ready while listening with its dependencies up', async () => {
    const { origin } = await startNode();
    const { status, report } = await readyz(origin);
    expect(status).toBe(200);
    expect(report).toEqual({
      status: 'ready',
      checks: [
        { name: 'accepting', ok: true },
        { name: 'bus', ok: true },
        { name: 'log', ok: true },
        { name: 'store', ok: true },
      ],
    });
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
  });

  it('is not ready while the log is down', async () => {
    const { origin, log } = await startNode();
    await log.close();
    const { status, report } = await readyz(origin);
    expect(status).toBe(503);
    expect(report.status).toBe('not ready');
    expect(report.checks.find((check) => check.name === 'log')).toEqual({
      name: 'log',
      ok: false,
      error: 'durable log is closed',
    });
    expect(report.checks.find((check) => check.name === 'store')!.ok).toBe(true);
  });

  it('is not ready while it drains, and tells clients to reconnect', async () => {
    const { node, tokens, origin } = await startNode();
    // The drain closes each socket at a random time in its window and stops listening after
    // the last one, so three sockets keep the port open long enough for the /readyz below.
    const token = await tokens.issueAccess('alice');
    const sockets = [1, 2, 3].map(
      () => new WebSocket(`ws://127.0.0.1:${node.port}/ws?access_token=${token}`),
    );
    const closes = sockets.map(
      (ws) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code))),
    );
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((resolve, reject) => {
            ws.once('message', () => resolve());
            ws.once('error', reject);
          }),
      ),
    );

    const stopping = node.stop();
    const { status, report } = await readyz(origin);
    expect(status).toBe(503);
    expect(report.checks[0]).toEqual({ name: 'accepting', ok: false, error: 'draining' });
    expect(await Promise.all(closes)).toEqual([
      CloseCode.NodeDraining,
      CloseCode.NodeDraining,
      CloseCode.NodeDraining,
    ]);
    await stopping;
    expect(node.ready).toBe(false);
  });

  it('serves its metrics on the chat port', async () => {
    const { node, tokens, origin } = await startNode();
    const ws = new WebSocket(
      `ws://127.0.0.1:${node.port}/ws?access_token=${await tokens.issueAccess('bob')}`,
    );
    await new Promise<void>((resolve, reject) => {
      ws.once('message', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ type: 'ping', id: 'p1' }));
    await new Promise<void>((resolve) => ws.once('message', () => resolve()));

    const response = await fetch(`${origin}/metrics`);
    expect(response.status).toBe(200);
    const families = parseExposition(await response.text());
    const at = { node: 'node-1' };
    expect(sumSamples(families, 'switchboard_connections', at)).toBe(1);
    expect(sumSamples(families, 'switchboard_frames_received_total', { ...at, type: 'ping' })).toBe(1);
    expect(sumSamples(families, 'switchboard_frames_sent_total', { ...at, type: 'welcome' })).toBe(1);
    expect(sumSamples(families, 'switchboard_frames_sent_total', { ...at, type: 'pong' })).toBe(1);
    ws.close();
  });
});
