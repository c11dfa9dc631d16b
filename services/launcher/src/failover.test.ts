import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildDirectConversationId, CloseCode } from '@switchboard/protocol';
import { RawSocket } from './testing/raw-socket.ts';
import {
  registerOnDifferentNodes,
  routeFor,
  startTestCluster,
  waitFor,
  type TestCluster,
} from './testing/cluster.ts';
import { connectDevice, type Device } from './testing/sdk.ts';

const clusters: TestCluster[] = [];
const devices: Device[] = [];

afterEach(async () => {
  for (const created of devices.splice(0)) await created.client.close();
  for (const cluster of clusters.splice(0)) await cluster.destroy();
});

async function start(dataDir?: string): Promise<TestCluster> {
  const cluster = await startTestCluster(dataDir === undefined ? {} : { dataDir });
  clusters.push(cluster);
  return cluster;
}

describe('restart', () => {
  it('keeps messages and never reuses a sequence number', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-restart-'));
    try {
      const first = await start(dataDir);
      const [alice, bob] = await registerOnDifferentNodes(first, 'restart');
      const a = await connectDevice(first, alice);
      devices.push(a);
      for (let i = 1; i <= 5; i++) await a.client.send({ to: bob.id }, `before restart ${i}`);
      await a.client.close();
      devices.splice(devices.indexOf(a), 1);
      await first.stop();
      clusters.splice(clusters.indexOf(first), 1);

      const second = await start(dataDir);
      const response = await fetch(`${second.apiUrl}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: bob.username, password: bob.password }),
      });
      expect(response.status).toBe(200);
      const b = await connectDevice(second, bob);
      devices.push(b);
      const conv = buildDirectConversationId(alice.id, bob.id);
      const page = await b.client.history(conv, { limit: 20 });
      expect(page.messages.map((message) => message.body).sort()).toEqual(
        [1, 2, 3, 4, 5].map((i) => `before restart ${i}`),
      );
      const ack = await b.client.send({ conv }, 'after restart');
      expect(ack.seq).toBe(6);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('chat node failure', () => {
  it('moves the users of a crashed node to the survivor without losing a message', async () => {
    const cluster = await start();
    const [alice, bob] = await registerOnDifferentNodes(cluster, 'crash');
    const conv = buildDirectConversationId(alice.id, bob.id);
    const a = await connectDevice(cluster, alice);
    const b = await connectDevice(cluster, bob);
    devices.push(a, b);

    const bobNode = (await routeFor(cluster.routerUrl, bob.accessToken)).node;
    const victim = cluster.nodes.find((node) => node.id === bobNode)!;
    const acked: number[] = [];
    const sending = (async () => {
      for (let i = 0; i < 60; i++) {
        const ack = await a.client.send({ conv }, `steady ${i}`);
        acked.push(ack.seq);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await waitFor(() => acked.length >= 10, 'ten messages acknowledged before the crash');
    await victim.crash();
    await sending;

    await waitFor(
      async () => (await routeFor(cluster.routerUrl, bob.accessToken)).node !== victim.id,
      'the router to move bob off the crashed node',
      10_000,
    );
    const received = await b.waitForMessages(conv, 60, 20_000);
    expect(received.map((message) => message.seq)).toEqual(acked);
    expect(new Set(received.map((message) => message.seq)).size).toBe(60);
  }, 60_000);

  it('drains a stopping node with close code 4003', async () => {
    const cluster = await start();
    const [alice] = await registerOnDifferentNodes(cluster, 'drain');
    const route = await routeFor(cluster.routerUrl, alice.accessToken);
    const { socket } = await RawSocket.openWelcomed(route.url, alice.accessToken);
    const node = cluster.nodes.find((candidate) => candidate.id === route.node)!;
    const stopping = node.stop();
    expect(await socket.closed()).toBe(CloseCode.NodeDraining);
    await stopping;
    const moved = await routeFor(cluster.routerUrl, alice.accessToken);
    expect(moved.node).not.toBe(route.node);
  });
});
