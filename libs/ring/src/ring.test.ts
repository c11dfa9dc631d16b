import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildRing, type Ring, type RingMember } from './ring.ts';

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
  it('ignores the order of members', () => {
    const members = makeMembers(5);
    const reordered = [members[3]!, members[0]!, members[4]!, members[2]!, members[1]!];
    const userIds = makeUserIds(10_000);

    const ring = buildRing(members);
    const other = buildRing(reordered);

    expect(other.version).toBe(ring.version);
    expect(other.nodes).toEqual(['node-1', 'node-2', 'node-3', 'node-4', 'node-5']);
    expect(ownersOf(other, userIds)).toEqual(ownersOf(ring, userIds));
  });

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

  it.each([4, 9])('moves about 1/(N+1) of users on join, N = %i', (count) => {
    const userIds = makeUserIds(100_000);
    const members = makeMembers(count + 1);
    const before = ownersOf(buildRing(members.slice(0, count)), userIds);
    const after = ownersOf(buildRing(members), userIds);
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
    const before = ownersOf(buildRing(members), userIds);
    const after = ownersOf(buildRing(members.filter((m) => m.id !== removed)), userIds);

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
    for (const owner of ownersOf(buildRing(members), userIds)) {
      counts.set(owner!, (counts.get(owner!) ?? 0) + 1);
    }

    for (const member of members) {
      const share = (counts.get(member.id) ?? 0) / userIds.length;
      const expectedShare = member.weight / totalWeight;
      // 160 ring points per unit of weight leave each share within about 25% of its target.
      expect(share, member.id).toBeGreaterThanOrEqual(0.75 * expectedShare);
      expect(share, member.id).toBeLessThanOrEqual(1.25 * expectedShare);
    }
  });

  it('returns null on an empty ring', () => {
    const ring = buildRing([]);

    expect(ring.ownerOf('user-1')).toBeNull();
    expect(ring.size).toBe(0);
    expect(ring.nodes).toEqual([]);
    expect(ring.version).toMatch(/^[0-9a-f]{16}$/);
  });

  it('leaves Object.prototype untouched', () => {
    const ring = buildRing(makeMembers(3));

    for (const userId of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(ring.nodes, userId).toContain(ring.ownerOf(userId));
    }
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('next');
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('value');
    expect(Object.getOwnPropertyNames(Object)).not.toContain('value');
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
});
