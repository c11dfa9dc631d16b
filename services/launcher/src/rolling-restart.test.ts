import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeFor, startTestCluster, TEST_PROFILE, waitFor, type TestCluster } from './testing/cluster.ts';
import { SteadyTraffic } from './testing/traffic.ts';

const PAIRS = 3;

let cluster: TestCluster;
let traffic: SteadyTraffic;

/** Returns the number of chat nodes in the router's ring. */
async function ringSize(): Promise<number> {
  const response = await fetch(`${cluster.routerUrl}/v1/ring`);
  if (response.status !== 200) throw new Error(`ring failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { nodes: unknown[] }).nodes.length;
}

describe(`rolling restart (${TEST_PROFILE} profile)`, () => {
  beforeAll(async () => {
    cluster = await startTestCluster();
    // Users are placed by the router's current ring, so it must hold every node first.
    await waitFor(async () => (await ringSize()) === cluster.nodes.length, 'every chat node in the ring');
    traffic = new SteadyTraffic(cluster);
    // Six users all land on one node in a few percent of runs, so pairs are added until they
    // cover at least two nodes.
    let nodes = new Set<string>();
    for (let round = 0; round < 5 && nodes.size < 2; round++) {
      await traffic.addPairs(`roll${round}`, PAIRS);
      nodes = new Set(
        await Promise.all(
          traffic.pairs
            .flatMap((pair) => [pair.sender, pair.receiver])
            .map(async (user) => (await routeFor(cluster.routerUrl, user.accessToken)).node),
        ),
      );
    }
    expect(nodes.size, 'users spread over the chat nodes').toBeGreaterThanOrEqual(2);
  }, 240_000);

  afterAll(async () => {
    await traffic?.close();
    await cluster?.destroy();
  }, 120_000);

  it('loses no acknowledged message while every chat node restarts in turn', async () => {
    const nodeCount = cluster.nodes.length;
    const sent = await traffic.run(async () => {
      await new Promise((resolveDelay) => setTimeout(resolveDelay, 1000));
      for (const node of cluster.nodes) {
        const before = node.url;
        await node.restart();
        // Test clusters listen on free ports, so a node that really restarted has a new URL.
        expect(node.url, `${node.id} URL after its restart`).not.toBe(before);
        await waitFor(
          async () => (await ringSize()) === nodeCount,
          `the ring to hold ${nodeCount} nodes again after ${node.id} restarted`,
          30_000,
        );
        // Lets clients that the restart moved reconnect and send before the next node goes.
        await new Promise((resolveDelay) => setTimeout(resolveDelay, 1000));
      }
    });
    expect(sent, 'messages acknowledged during the restarts').toBeGreaterThan(nodeCount * PAIRS);

    for (const pair of traffic.pairs) {
      expect(await traffic.findProblems(pair)).toEqual([]);
    }
  }, 300_000);
});
