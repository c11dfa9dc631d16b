import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PresenceEntry, PresenceFrame } from '@switchboard/protocol';
import { RawSocket } from './testing/raw-socket.ts';
import {
  registerUser,
  routeFor,
  startTestCluster,
  waitFor,
  type TestCluster,
  type TestUser,
} from './testing/cluster.ts';

const PRESENCE_TTL_MS = 1500;
const PRESENCE_INTERVAL_MS = 200;
/**
 * Bound on how long a killed node's users stay online: the TTL, one expiry sweep (1 s on
 * Redis, 250 ms in process), one coalescing interval, and slack for a loaded machine.
 */
const OFFLINE_BOUND_MS = PRESENCE_TTL_MS + 1000 + PRESENCE_INTERVAL_MS + 3000;

let cluster: TestCluster;
const sockets: RawSocket[] = [];
let userCount = 0;

async function register(prefix: string): Promise<TestUser> {
  userCount += 1;
  return registerUser(cluster.apiUrl, `${prefix}${userCount}`);
}

async function open(user: TestUser): Promise<RawSocket> {
  const route = await routeFor(cluster.routerUrl, user.accessToken);
  const { socket } = await RawSocket.openWelcomed(route.url, user.accessToken);
  sockets.push(socket);
  return socket;
}

/** Returns every presence entry that `socket` received, in order, leaving its queue as it is. */
function presenceOf(socket: RawSocket, user?: string): PresenceEntry[] {
  return socket.frames
    .filter((frame): frame is PresenceFrame => frame.type === 'presence')
    .flatMap((frame) => frame.users)
    .filter((entry) => user === undefined || entry.user === user);
}

function latest(socket: RawSocket, user: string): PresenceEntry | undefined {
  return presenceOf(socket, user).at(-1);
}

beforeAll(async () => {
  cluster = await startTestCluster({
    realtime: { presenceTtlMs: PRESENCE_TTL_MS, presenceIntervalMs: PRESENCE_INTERVAL_MS },
  });
}, 180_000);

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await cluster?.destroy();
});

describe('presence', () => {
  it('shows a user online while any of their devices is connected', async () => {
    const [watcher, alice] = [await register('watch'), await register('multi')];
    const watching = await open(watcher);
    watching.sendJson({ type: 'presence.subscribe', users: [alice.id] });
    await waitFor(() => latest(watching, alice.id) !== undefined, 'the first presence of alice');
    expect(latest(watching, alice.id)).toEqual({ user: alice.id, online: false });

    const phone = await open(alice);
    await waitFor(() => latest(watching, alice.id)?.online === true, 'alice to come online');
    const laptop = await open(alice);
    phone.close();
    await new Promise((resolve) => setTimeout(resolve, PRESENCE_INTERVAL_MS * 4));
    expect(latest(watching, alice.id)?.online).toBe(true);

    const closedAt = Date.now();
    laptop.close();
    await waitFor(() => latest(watching, alice.id)?.online === false, 'alice to go offline');
    const last = latest(watching, alice.id)!;
    expect(last.lastSeen).toBeGreaterThan(closedAt - 2_000);
    expect(presenceOf(watching, alice.id).map((entry) => entry.online)).toEqual([false, true, false]);
  }, 120_000);

  it('sends changes only to subscribers', async () => {
    const [watcher, bystander, alice] = [
      await register('only'),
      await register('only'),
      await register('only'),
    ];
    const watching = await open(watcher);
    const bystanding = await open(bystander);
    watching.sendJson({ type: 'presence.subscribe', users: [alice.id] });
    await waitFor(() => latest(watching, alice.id) !== undefined, 'the first presence of alice');

    await open(alice);
    await waitFor(() => latest(watching, alice.id)?.online === true, 'alice to come online');
    await new Promise((resolve) => setTimeout(resolve, PRESENCE_INTERVAL_MS * 2));

    expect(presenceOf(bystanding)).toEqual([]);
  }, 120_000);

  it('expires a killed node in coalesced frames', async () => {
    const watcher = await register('survivor');
    const watcherNode = (await routeFor(cluster.routerUrl, watcher.accessToken)).node;
    const victimId = cluster.nodes.find((node) => node.id !== watcherNode)!.id;
    const victims: TestUser[] = [];
    for (let attempt = 0; attempt < 80 && victims.length < 8; attempt++) {
      const user = await register('victim');
      if ((await routeFor(cluster.routerUrl, user.accessToken)).node === victimId) victims.push(user);
    }
    expect(victims).toHaveLength(8);
    for (const victim of victims) await open(victim);
    const watching = await open(watcher);
    watching.sendJson({ type: 'presence.subscribe', users: victims.map((victim) => victim.id) });
    await waitFor(
      () => victims.every((victim) => latest(watching, victim.id)?.online === true),
      'every victim online',
    );
    const framesBefore = watching.frames.filter((frame) => frame.type === 'presence').length;

    const killedAt = Date.now();
    await cluster.nodes.find((node) => node.id === victimId)!.crash();
    await waitFor(
      () => victims.every((victim) => latest(watching, victim.id)?.online === false),
      'every victim offline',
      OFFLINE_BOUND_MS + 5_000,
    );
    const elapsed = Date.now() - killedAt;

    expect(elapsed).toBeLessThan(OFFLINE_BOUND_MS);
    const framesAfter = watching.frames.filter((frame) => frame.type === 'presence').length - framesBefore;
    expect(framesAfter).toBeLessThan(victims.length);
    for (const victim of victims) expect(latest(watching, victim.id)?.lastSeen).toBeGreaterThan(0);
  }, 120_000);
});
