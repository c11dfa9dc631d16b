import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { CompactRing, computePointPositions, computeProbePositions } from './compact-ring.ts';
import {
  buildRing,
  DEFAULT_COMPACT_VNODES,
  MAX_RING_POINTS,
  type Ring,
  type RingAlgorithm,
  type RingMember,
} from './ring.ts';

const ALGORITHMS: RingAlgorithm[] = ['compact', 'hashring'];

function makeMembers(count: number, weight = 1): RingMember[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `node-${i + 1}`,
    weight,
    url: `ws://127.0.0.1:${9001 + i}/ws`,
  }));
}

function makeUserIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `user-${i}`);
}

function ownersOf(ring: Ring, userIds: readonly string[]): (string | null)[] {
  return userIds.map((userId) => ring.ownerOf(userId));
}

describe('buildRing', () => {
  it('hashes sorted id|weight|url lines into the version', () => {
    const members = [
      { id: 'node-b', weight: 2, url: 'ws://127.0.0.1:9002/ws' },
      { id: 'node-a', weight: 0.5, url: 'ws://127.0.0.1:9001/ws' },
    ];
    const expected = createHash('sha256')
      .update('node-a|0.5|ws://127.0.0.1:9001/ws\nnode-b|2|ws://127.0.0.1:9002/ws\n')
      .digest('hex')
      .slice(0, 16);

    expect(buildRing(members).version).toBe(expected);
  });

  it('changes version on url or weight', () => {
    const members = makeMembers(3);
    const moved = members.map((m, i) => (i === 1 ? { ...m, url: 'ws://127.0.0.1:9999/ws' } : m));
    const heavier = members.map((m, i) => (i === 1 ? { ...m, weight: 2 } : m));

    const version = buildRing(members).version;

    expect(buildRing(moved).version).not.toBe(version);
    expect(buildRing(heavier).version).not.toBe(version);
  });

  it('rejects duplicate ids', () => {
    const members = makeMembers(2);

    expect(() => buildRing([...members, { ...members[0]! }])).toThrow(/appears more than once/);
  });

  it.each([
    ['an empty id', { id: '', weight: 1, url: 'ws://127.0.0.1:9001/ws' }, /node id/],
    ['an id with a bar', { id: 'a|b', weight: 1, url: 'ws://127.0.0.1:9001/ws' }, /node id/],
    ['the id __proto__', { id: '__proto__', weight: 1, url: 'ws://127.0.0.1:9001/ws' }, /node id/],
    ['a zero weight', { id: 'node-1', weight: 0, url: 'ws://127.0.0.1:9001/ws' }, /weight/],
    ['a NaN weight', { id: 'node-1', weight: Number.NaN, url: 'ws://127.0.0.1:9001/ws' }, /weight/],
    ['a huge weight', { id: 'node-1', weight: 1e9, url: 'ws://127.0.0.1:9001/ws' }, /weight/],
    ['an empty url', { id: 'node-1', weight: 1, url: '' }, /url/],
    ['a url with a line break', { id: 'node-1', weight: 1, url: 'ws://a\nb' }, /url/],
  ])('rejects a member with %s', (_case, member, message) => {
    expect(() => buildRing([member])).toThrow(message);
  });

  it.each([0, 1.5, -1, 1e6])('rejects vnodes = %s', (vnodes) => {
    expect(() => buildRing(makeMembers(1), { vnodes })).toThrow(/vnodes must be an integer/);
  });
  it('rejects an unknown algorithm', () => {
    const options = { algorithm: 'maglev' as RingAlgorithm };

    expect(() => buildRing(makeMembers(1), options)).toThrow(/algorithm must be "compact" or "hashring"/);
  });

  it.each([0, 2.5, 65])('rejects probes = %s', (probes) => {
    expect(() => buildRing(makeMembers(1), { probes })).toThrow(/probes must be an integer/);
  });

  it('rejects probes with hashring', () => {
    expect(() => buildRing(makeMembers(1), { algorithm: 'hashring', probes: 8 })).toThrow(
      /probes applies to the "compact" algorithm only/,
    );
  });

  it('rejects a compact ring above MAX_RING_POINTS', () => {
    const nodeCount = Math.ceil(MAX_RING_POINTS / (100 * DEFAULT_COMPACT_VNODES)) + 1;

    expect(() => buildRing(makeMembers(nodeCount, 100))).toThrow(/lower vnodes or the node weights/);
  });

  it('uses the compact algorithm by default', () => {
    const members = makeMembers(5);
    const userIds = makeUserIds(1000);

    expect(ownersOf(buildRing(members), userIds)).toEqual(
      ownersOf(buildRing(members, { algorithm: 'compact' }), userIds),
    );
  });
});

describe.each(ALGORITHMS)('%s ring', (algorithm) => {
  it('ignores the order of members', () => {
    const members = makeMembers(5);
    const reordered = [members[3]!, members[0]!, members[4]!, members[2]!, members[1]!];
    const userIds = makeUserIds(10_000);

    const ring = buildRing(members, { algorithm });
    const other = buildRing(reordered, { algorithm });

    expect(other.version).toBe(ring.version);
    expect(other.nodes).toEqual(['node-1', 'node-2', 'node-3', 'node-4', 'node-5']);
    expect(ownersOf(other, userIds)).toEqual(ownersOf(ring, userIds));
  });

  it.each([4, 9])('moves about 1/(N+1) of users on join, N = %i', (count) => {
    const userIds = makeUserIds(100_000);
    const members = makeMembers(count + 1);
    const before = ownersOf(buildRing(members.slice(0, count), { algorithm }), userIds);
    const after = ownersOf(buildRing(members, { algorithm }), userIds);
    const joined = members[count]!.id;

    let moved = 0;
    const movedElsewhere: string[] = [];
    for (let i = 0; i < userIds.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      if (after[i] !== joined) movedElsewhere.push(userIds[i]!);
    }
    const expectedShare = 1 / (count + 1);
    const share = moved / userIds.length;

    expect(movedElsewhere).toEqual([]);
    expect(share).toBeGreaterThanOrEqual(0.5 * expectedShare);
    expect(share).toBeLessThanOrEqual(1.5 * expectedShare);
  });

  it("moves only a leaving node's users", () => {
    const userIds = makeUserIds(100_000);
    const members = makeMembers(5);
    const removed = members[2]!.id;
    const before = ownersOf(buildRing(members, { algorithm }), userIds);
    const after = ownersOf(
      buildRing(
        members.filter((m) => m.id !== removed),
        { algorithm },
      ),
      userIds,
    );

    let moved = 0;
    const movedFromOthers: string[] = [];
    for (let i = 0; i < userIds.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      if (before[i] !== removed) movedFromOthers.push(userIds[i]!);
    }

    expect(movedFromOthers).toEqual([]);
    expect(moved).toBe(before.filter((owner) => owner === removed).length);
    expect(after).not.toContain(removed);
  });

  it('shares users in proportion to weight', () => {
    const userIds = makeUserIds(100_000);
    const members = [
      { id: 'node-1', weight: 1, url: 'ws://127.0.0.1:9001/ws' },
      { id: 'node-2', weight: 2, url: 'ws://127.0.0.1:9002/ws' },
      { id: 'node-3', weight: 1, url: 'ws://127.0.0.1:9003/ws' },
      { id: 'node-4', weight: 4, url: 'ws://127.0.0.1:9004/ws' },
    ];
    const totalWeight = 8;
    const counts = new Map<string, number>();
    for (const owner of ownersOf(buildRing(members, { algorithm }), userIds)) {
      counts.set(owner!, (counts.get(owner!) ?? 0) + 1);
    }

    for (const member of members) {
      const share = (counts.get(member.id) ?? 0) / userIds.length;
      const expectedShare = member.weight / totalWeight;
      // Both defaults leave each share within about 25% of its target at this size.
      expect(share, member.id).toBeGreaterThanOrEqual(0.75 * expectedShare);
      expect(share, member.id).toBeLessThanOrEqual(1.25 * expectedShare);
    }
  });

  it('returns null on an empty ring', () => {
    const ring = buildRing([], { algorithm });

    expect(ring.ownerOf('user-1')).toBeNull();
    expect(ring.size).toBe(0);
    expect(ring.nodes).toEqual([]);
    expect(ring.version).toMatch(/^[0-9a-f]{16}$/);
  });

  it('leaves Object.prototype untouched', () => {
    const ring = buildRing(makeMembers(3), { algorithm });

    for (const userId of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(ring.nodes, userId).toContain(ring.ownerOf(userId));
    }
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('next');
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('value');
    expect(Object.getOwnPropertyNames(Object)).not.toContain('value');
  });
});

/** Finds the owner by checking every point of every node against every probe. */
function findOwnerByBruteForce(members: RingMember[], vnodes: number, probes: number, key: string): string {
  const probePositions = computeProbePositions(key, probes);
  let bestDistance = Infinity;
  let bestId = '';
  for (const member of members) {
    const count = Math.max(1, Math.round(member.weight * vnodes));
    for (const position of computePointPositions(member.id, count)) {
      for (const probe of probePositions) {
        const distance = Math.min((position - probe) >>> 0, (probe - position) >>> 0);
        if (distance < bestDistance || (distance === bestDistance && member.id < bestId)) {
          bestDistance = distance;
          bestId = member.id;
        }
      }
    }
  }
  return bestId;
}

function countByOwner(owners: readonly (string | null)[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const owner of owners) counts.set(owner!, (counts.get(owner!) ?? 0) + 1);
  return counts;
}

describe('compact ring', () => {
  it.each([
    ['one node with one point', makeMembers(1), 1, 1],
    ['two nodes with one point each', makeMembers(2), 1, 1],
    ['three nodes and two probes', makeMembers(3), 1, 2],
    ['seven nodes with three points', makeMembers(7), 3, 4],
    ['twenty nodes with eight probes', makeMembers(20), 2, 8],
    [
      'mixed weights',
      [
        { id: 'node-a', weight: 0.5, url: 'ws://127.0.0.1:9001/ws' },
        { id: 'node-b', weight: 3, url: 'ws://127.0.0.1:9002/ws' },
        { id: 'node-c', weight: 1.25, url: 'ws://127.0.0.1:9003/ws' },
      ],
      4,
      3,
    ],
  ])('matches a brute-force search: %s', (_case, members, vnodes, probes) => {
    const ring = buildRing(members, { vnodes, probes });
    const mismatches: string[] = [];
    for (const key of makeUserIds(2000)) {
      if (ring.ownerOf(key) !== findOwnerByBruteForce(members, vnodes, probes, key)) mismatches.push(key);
    }

    expect(mismatches).toEqual([]);
  });

  it('drops repeated positions of later ids', () => {
    const members = makeMembers(1000).sort((a, b) => (a.id < b.id ? -1 : 1));
    const vnodes = 1000;
    // 1 million points on 2^32 positions share about 116 positions, by the birthday bound.
    const firstOwner = new Map<number, string>();
    let shared = 0;
    for (const member of members) {
      for (const position of computePointPositions(member.id, vnodes)) {
        if (firstOwner.has(position)) shared++;
        else firstOwner.set(position, member.id);
      }
    }
    const ring = new CompactRing(members, 'version', { pointsPerWeight: vnodes, probes: 1 });

    expect(shared).toBeGreaterThan(0);
    expect(ring.pointCount).toBe(members.length * vnodes - shared);
  });

  it('pins owners of fixed user ids', () => {
    // Any change to the hash, the seeds or the search moves these users. Such a change moves
    // almost every user of a running cluster, so it needs a migration plan, not a new pin.
    const ring = buildRing(makeMembers(5));
    const pinned = [
      ['user-0', 'node-2'],
      ['user-1', 'node-3'],
      ['user-2', 'node-3'],
      ['alice', 'node-3'],
      ['bob', 'node-1'],
      ['carol', 'node-5'],
      ['dave', 'node-1'],
      ['erin', 'node-2'],
      ['ü-日本-😀', 'node-5'],
    ];

    for (const [userId, owner] of pinned) {
      expect(ring.ownerOf(userId!), userId).toBe(owner);
    }
  });
});

describe('compact ring at 1,000 nodes over 1M users', () => {
  const nodeCount = 1000;
  const userIds = makeUserIds(1_000_000);
  const members = makeMembers(nodeCount + 1);
  let owners: (string | null)[] = [];

  beforeAll(() => {
    owners = ownersOf(buildRing(members.slice(0, nodeCount)), userIds);
  });

  it('keeps the spread of users per node small', () => {
    const counts = countByOwner(owners);
    const mean = userIds.length / nodeCount;
    let max = 0;
    let sumOfSquares = 0;
    for (const count of counts.values()) {
      max = Math.max(max, count);
      sumOfSquares += ((count - mean) / mean) ** 2;
    }
    // 1,000 users per node spread by about 1/sqrt(1000) = 3.2% from sampling alone, which puts
    // the max over mean of even a uniform random assignment near 1.10. The ring's own spread is
    // what is left after removing that sampling variance.
    const samplingVariance = (1 - 1 / nodeCount) / mean;
    const ringSpread = Math.sqrt(Math.max(0, sumOfSquares / nodeCount - samplingVariance));

    expect(counts.size).toBe(nodeCount);
    expect(ringSpread).toBeLessThanOrEqual(0.02);
    expect(max / mean).toBeLessThanOrEqual(1.15);
  });

  it('join moves at most 1.1/(N+1), all to it', () => {
    const joined = members[nodeCount]!.id;
    const after = ownersOf(buildRing(members), userIds);

    let moved = 0;
    let movedElsewhere = 0;
    for (let i = 0; i < userIds.length; i++) {
      if (owners[i] === after[i]) continue;
      moved++;
      if (after[i] !== joined) movedElsewhere++;
    }
    const ideal = userIds.length / (nodeCount + 1);

    expect(movedElsewhere).toBe(0);
    expect(moved / ideal).toBeGreaterThanOrEqual(0.5);
    expect(moved / ideal).toBeLessThanOrEqual(1.1);
  });

  it('leave moves at most 1.1/N, only its users', () => {
    const removed = members[499]!.id;
    const after = ownersOf(buildRing(members.slice(0, nodeCount).filter((m) => m.id !== removed)), userIds);

    let moved = 0;
    let movedFromOthers = 0;
    for (let i = 0; i < userIds.length; i++) {
      if (owners[i] === after[i]) continue;
      moved++;
      if (owners[i] !== removed) movedFromOthers++;
    }
    const ideal = userIds.length / nodeCount;

    expect(movedFromOthers).toBe(0);
    expect(moved).toBe(owners.filter((owner) => owner === removed).length);
    expect(moved / ideal).toBeLessThanOrEqual(1.1);
  });

  it('gives nodes of weight 2 twice the users', () => {
    const weighted = members
      .slice(0, nodeCount)
      .map((member, i) => (i % 10 === 0 ? { ...member, weight: 2 } : member));
    const sample = userIds.slice(0, 200_000);
    const counts = countByOwner(ownersOf(buildRing(weighted), sample));

    let heavyUsers = 0;
    let lightUsers = 0;
    for (const member of weighted) {
      if (member.weight === 2) heavyUsers += counts.get(member.id) ?? 0;
      else lightUsers += counts.get(member.id) ?? 0;
    }
    const ratio = heavyUsers / 100 / (lightUsers / 900);

    expect(ratio).toBeGreaterThanOrEqual(1.9);
    expect(ratio).toBeLessThanOrEqual(2.1);
  });
});
