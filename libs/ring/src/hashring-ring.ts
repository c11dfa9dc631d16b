import HashRing from 'hashring';
import type { Ring, RingMember } from './ring.ts';

/** A ketama ring of the `hashring` package (MD5, 4 points per virtual node). */
export class HashringRing implements Ring {
  readonly version: string;
  readonly nodes: readonly string[];
  readonly members: readonly RingMember[];
  readonly size: number;
  readonly #hashRing: HashRing;

  /** Builds the ring of `sorted`, which must be validated members sorted by id without repeats. */
  constructor(sorted: readonly RingMember[], version: string, vnodes: number) {
    this.members = Object.freeze(sorted.map((member) => Object.freeze(member)));
    this.nodes = Object.freeze(sorted.map((member) => member.id));
    this.size = sorted.length;
    this.version = version;

    // Each node gets a point count that depends on its own weight alone. hashring 3.2.0 would
    // size every node as floor(weight / totalWeight * vnodes * nodeCount), which depends on the
    // other nodes. With 7 equal nodes that formula yields 39 virtual nodes instead of 40, so a
    // join or a leave would also move users between nodes that stayed.
    // A `vnode count` of 0 makes hashring take the per-node count as given.
    const servers = Object.create(null) as Record<string, { vnodes: number }>;
    for (const member of sorted) {
      servers[member.id] = { vnodes: Math.max(1, Math.round(member.weight * vnodes)) };
    }
    this.#hashRing = new HashRing(servers, 'md5', { compatibility: 'ketama', 'vnode count': 0 });
  }

  ownerOf(key: string): string | null {
    if (this.size === 0) return null;

    // range(key, 1) finds the same node as get(key) but skips get's lookup cache: that cache
    // (simple-lru-cache 0.0.2) keeps entries in a plain object, so user ids such as
    // `constructor` or `__proto__` would read and write Object.prototype.
    return this.#hashRing.range(key, 1)[0] ?? null;
  }
}
