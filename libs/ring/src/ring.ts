import { createHash } from 'node:crypto';
import HashRing from 'hashring';

/** A chat node's entry in the ring. */
export interface RingMember {
  /** Stable node id, unique in the cluster. */
  id: string;
  /** Relative share of users: a node of weight 2 owns about twice the users of a node of weight 1. */
  weight: number;
  /** WebSocket URL that clients connect to. */
  url: string;
}

export interface RingOptions {
  /** Virtual nodes per unit of weight. Every process of a cluster must use the same value. */
  vnodes?: number;
}

/** A consistent-hash ring over one membership. Immutable: a membership change builds a new ring. */
export interface Ring {
  /** First 16 hex characters of a SHA-256 over the sorted membership, equal for equal memberships. */
  readonly version: string;
  /** Node ids, sorted. */
  readonly nodes: readonly string[];
  /** Members sorted by id. */
  readonly members: readonly RingMember[];
  /** Number of nodes. */
  readonly size: number;
  /** Returns the id of the node that owns `key` (a user id), or null when the ring is empty. */
  ownerOf(key: string): string | null;
}

export const DEFAULT_VNODES = 40;
/** Upper bound of the `vnodes` option, so a typo cannot allocate millions of ring points. */
export const MAX_VNODES = 1000;
/** Upper bound of a member's weight, for the same reason. */
export const MAX_WEIGHT = 100;

// A node id starts with a letter or digit and contains no `|` or whitespace, so the version lines
// below stay unambiguous, and names such as `__proto__` never reach hashring's plain-object maps.
const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

const VERSION_HEX_CHARS = 16;

/**
 * Builds the ring of `members`. The result depends only on the set of members, not on their order.
 *
 * Throws a TypeError or RangeError when a member or option is malformed or an id repeats.
 */
export function buildRing(members: readonly RingMember[], options: RingOptions = {}): Ring {
  const vnodes = options.vnodes ?? DEFAULT_VNODES;
  if (!Number.isInteger(vnodes) || vnodes < 1 || vnodes > MAX_VNODES) {
    throw new RangeError(`vnodes must be an integer from 1 to ${MAX_VNODES}, got ${vnodes}`);
  }

  const sorted = members.map((member) => copyMember(member)).sort(compareById);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.id === sorted[i - 1]!.id) {
      throw new RangeError(`node id "${sorted[i]!.id}" appears more than once in the membership`);
    }
  }

  return new HashedRing(sorted, vnodes);
}

/** Computes the version of a membership: the same members give the same version in every process. */
export function computeRingVersion(members: readonly RingMember[]): string {
  const lines = [...members]
    .sort(compareById)
    .map((member) => `${member.id}|${member.weight}|${member.url}\n`);
  return createHash('sha256').update(lines.join('')).digest('hex').slice(0, VERSION_HEX_CHARS);
}

class HashedRing implements Ring {
  readonly version: string;
  readonly nodes: readonly string[];
  readonly members: readonly RingMember[];
  readonly size: number;
  readonly #hashRing: HashRing;

  constructor(sorted: RingMember[], vnodes: number) {
    this.members = Object.freeze(sorted.map((member) => Object.freeze(member)));
    this.nodes = Object.freeze(sorted.map((member) => member.id));
    this.size = sorted.length;
    this.version = computeRingVersion(sorted);

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

function compareById(a: RingMember, b: RingMember): number {
  if (a.id === b.id) return 0;
  return a.id < b.id ? -1 : 1;
}

/** Checks that a member can be placed on the ring, and throws a TypeError or RangeError if not. */
export function assertRingMember(member: RingMember): void {
  const { id, weight, url } = member;
  if (typeof id !== 'string' || !NODE_ID_PATTERN.test(id)) {
    throw new TypeError(
      `node id must be 1 to 128 characters of A-Z, a-z, 0-9, ".", "_", ":" and "-", starting with a letter or digit, got ${JSON.stringify(id)}`,
    );
  }
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0 || weight > MAX_WEIGHT) {
    throw new RangeError(`weight of node "${id}" must be above 0 and at most ${MAX_WEIGHT}, got ${weight}`);
  }
  if (typeof url !== 'string' || url.length === 0 || /[\r\n]/.test(url)) {
    throw new TypeError(`url of node "${id}" must be a non-empty string without line breaks`);
  }
}

function copyMember(member: RingMember): RingMember {
  assertRingMember(member);
  return { id: member.id, weight: member.weight, url: member.url };
}
