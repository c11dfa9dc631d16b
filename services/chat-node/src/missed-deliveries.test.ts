import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLogger,
  MembershipView,
  Messenger,
  NodeHeartbeat,
  TokenIssuer,
  type Bus,
} from '@switchboard/core';
import { FileLog, InProcessBus, openSqlite } from '@switchboard/embedded';
import { CloseCode, type ServerFrame } from '@switchboard/protocol';
import { ChatNode } from './chat-node.ts';

const logger = createLogger('test', { level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];
const HEARTBEAT = { intervalMs: 30, ttlMs: 150 };

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Wraps a real InProcessBus for one node, so that its heartbeats fail while `cut` is set, as
 * when the node's link to the bus stalls for longer than its TTL.
 */
function withCutHeartbeats(bus: InProcessBus): { bus: Bus; cut: (on: boolean) => void } {
  let cut = false;
  const view = new Proxy(bus, {
    get(target, property) {
      if (property === 'heartbeat' && cut) return () => Promise.reject(new Error('bus unreachable'));
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { bus: view, cut: (on) => (cut = on) };
}

/** Starts `count` chat nodes over one embedded bus, log and store, each with its own ring view. */
async function startNodes(count: number, rebalanceWindowMs = 100) {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-missed-'));
  const bus = new InProcessBus({ sweepIntervalMs: 20 });
  const log = await FileLog.open({ dir: join(dir, 'log'), logger });
  const sqlite = openSqlite(join(dir, 'switchboard.db'));
  const tokens = new TokenIssuer({
    secret: 'chat-node-missed-deliveries-secret-0123',
    accessTtlSeconds: 60,
    refreshTtlSeconds: 3600,
  });
  cleanups.push(async () => {
    await log.close();
    await sqlite.close();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const nodes = [];
  for (let index = 1; index <= count; index++) {
    const link = withCutHeartbeats(bus);
    const view = new MembershipView({ bus, logger, refreshMs: 50 });
    await view.start();
    const node = new ChatNode({
      id: `node-${index}`,
      host: '127.0.0.1',
      port: 0,
      bus,
      placement: view,
      createHeartbeat: (info) => new NodeHeartbeat({ bus: link.bus, node: info, ...HEARTBEAT, logger }),
      messenger: new Messenger({
        store: sqlite.store,
        sequencer: sqlite.sequencer,
        log,
        logger,
        persisterGroup: 'persister',
      }),
      tokens,
      logger,
      policy: { drainWindowMs: 100, rebalanceWindowMs },
    });
    await node.start();
    cleanups.push(async () => {
      await node.stop();
      await view.stop();
    });
    nodes.push({ node, view, cut: link.cut });
  }
  for (const { view } of nodes) await view.refresh();
  return { bus, tokens, nodes, sqlite };
}

/** Opens a raw WebSocket to `port` as `user` and collects its frames once the welcome came. */
async function connect(tokens: TokenIssuer, port: number, user: string) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?access_token=${await tokens.issueAccess(user)}`);
  const frames: ServerFrame[] = [];
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString('utf8')) as ServerFrame));
  cleanups.push(async () => {
    ws.close();
  });
  await waitFor(() => frames.some((frame) => frame.type === 'welcome'), `the welcome of ${user}`);
  return { ws, frames };
}

/** Returns a user id that `view` places on the node `nodeId`. */
function userOwnedBy(view: MembershipView, nodeId: string): string {
  for (let i = 0; i < 1000; i++) {
    const user = `u_missed${i}`;
    if (view.ownerOf(user)?.id === nodeId) return user;
  }
  throw new Error(`no user placed on ${nodeId}`);
}

describe('chat node deliveries that went astray', () => {
  it('asks its connections to resync after its membership entry expired', async () => {
    // A long rebalance window keeps the connection open while the ring has the user elsewhere.
    const { tokens, nodes } = await startNodes(2, 10_000);
    const [first] = nodes;
    const user = userOwnedBy(first!.view, 'node-1');
    const client = await connect(tokens, first!.node.port, user);

    first!.cut(true);
    await waitFor(() => first!.view.ownerOf(user)?.id === 'node-2', 'the ring to move the user away');
    first!.cut(false);

    await waitFor(
      () => client.frames.some((frame) => frame.type === 'resync' && frame.reason === 'ring'),
      'a resync after the rejoin',
    );
  });

  it('sends no resync while its heartbeats keep the entry alive', async () => {
    const { tokens, nodes } = await startNodes(2);
    const user = userOwnedBy(nodes[0]!.view, 'node-1');
    const client = await connect(tokens, nodes[0]!.node.port, user);

    await sleep(HEARTBEAT.ttlMs * 4);

    expect(client.frames.filter((frame) => frame.type === 'resync')).toEqual([]);
  });

  it('forwards a delivery for a user owned elsewhere once', async () => {
    const { bus, tokens, nodes } = await startNodes(2);
    const user = userOwnedBy(nodes[0]!.view, 'node-2');
    const client = await connect(tokens, nodes[1]!.node.port, user);
    const frame = (body: string) => JSON.stringify({ type: 'typing', conv: 'g.missed', user: body });

    // A sender with an older ring publishes to node-1, which no longer owns the user.
    await bus.publishToNode('node-1', { from: 'node-3', deliveries: [{ user, frame: frame('first') }] });
    await waitFor(
      () => client.frames.some((received) => received.type === 'typing' && received.user === 'first'),
      'the forwarded delivery',
    );

    await bus.publishToNode('node-1', {
      from: 'node-3',
      deliveries: [{ user, frame: frame('again') }],
      forwarded: true,
    });
    await sleep(200);
    expect(client.frames.some((received) => received.type === 'typing' && received.user === 'again')).toBe(
      false,
    );
  });

  it('closes with 1013 when the stream head is unreadable', async () => {
    const { tokens, nodes, sqlite } = await startNodes(1);
    await sqlite.close();

    const ws = new WebSocket(
      `ws://127.0.0.1:${nodes[0]!.node.port}/ws?access_token=${await tokens.issueAccess('u_missedhead')}`,
    );
    const frames: string[] = [];
    ws.on('message', (data: Buffer) => frames.push(data.toString('utf8')));
    const code = await new Promise<number>((resolve) => ws.once('close', (closeCode) => resolve(closeCode)));

    expect(code).toBe(CloseCode.TryAgainLater);
    expect(frames).toEqual([]);
  });
});
