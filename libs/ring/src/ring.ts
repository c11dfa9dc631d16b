import { createHash } from 'node:crypto';
import { CompactRing } from './compact-ring.ts';
import { HashringRing } from './hashring-ring.ts';

/** A chat node's entry in the ring. */
export interface RingMember {
  /** Stable node id, unique in the cluster. */
  id: string;
  /** Relative share of users: a node of weight 2 owns about twice the users of a node of weight 1. */
  weight: number;
  /** WebSocket URL that clients connect to. */
  url: string;
}

/**
 * Placement algorithm. `compact` is a multi-probe ring in typed arrays (compact-ring.ts), and
 * `hashring` is the ketama ring of the hashring package.
 */
export type RingAlgorithm = 'compact' | 'hashring';

/**
 * Ring settings. Every process of a cluster must use the same algorithm, vnodes and probes,
 * because the version covers the membership only. Processes with different settings would agree
 * on the version but not on the owners.
 */
export interface RingOptions {
  /** Placement algorithm, `compact` by default. */
  algorithm?: RingAlgorithm;
  /**
   * Virtual nodes per unit of weight. Each is one ring point in `compact` (default
   * DEFAULT_COMPACT_VNODES) and four ketama points in `hashring` (default DEFAULT_VNODES).
   */
  vnodes?: number;
  /** Probes per lookup of the `compact` algorithm (default DEFAULT_PROBES). `hashring` rejects it. */
  probes?: number;
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

// `compact` is the default because at 10,000 equal nodes it meets the rebuild, memory, lookup
// and balance targets that hashring misses: about 50 ms against 2.5 s per rebuild, 0.6 us
// against 6 us per lookup, and max over mean users per node near 1.08 against 1.45. Measured
// by loadtests/ring-simulation.ts (tables in docs/capacity.md). hashring stays available for a
// cluster that must keep its current placement, because switching moves almost every user.
export const DEFAULT_ALGORITHM: RingAlgorithm = 'compact';
/** Default `vnodes` of the `hashring` algorithm. */
export const DEFAULT_VNODES = 40;
/**
 * Default `vnodes` of the `compact` algorithm. With DEFAULT_PROBES the ring's own spread of
 * users per node is about 1.8% of the mean (one standard deviation, 1 / sqrt(4 * 80 * 10)).
 */
export const DEFAULT_COMPACT_VNODES = 80;
/**
 * Default `probes` of the `compact` algorithm. Each probe adds an index read and one or two
 * point reads to a lookup, so probes trade lookup time for fewer points per node.
 */
export const DEFAULT_PROBES = 10;
/** Upper bound of the `vnodes` option, so a typo cannot allocate millions of ring points. */
export const MAX_VNODES = 1000;
/** Upper bound of a member's weight, for the same reason. */
export const MAX_WEIGHT = 100;
/** Upper bound of the `probes` option. */
export const MAX_PROBES = 64;
/**
 * Upper bound of the points of a `compact` ring (sum of round(weight * vnodes)), which then
 * takes about 160 MiB of typed arrays.
 */
export const MAX_RING_POINTS = 2 ** 24;

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
  const algorithm = options.algorithm ?? DEFAULT_ALGORITHM;
  if (algorithm !== 'compact' && algorithm !== 'hashring') {
    throw new RangeError(`algorithm must be "compact" or "hashring", got ${JSON.stringify(algorithm)}`);
  }
  const vnodes = options.vnodes ?? (algorithm === 'compact' ? DEFAULT_COMPACT_VNODES : DEFAULT_VNODES);
  if (!Number.isInteger(vnodes) || vnodes < 1 || vnodes > MAX_VNODES) {
    throw new RangeError(`vnodes must be an integer from 1 to ${MAX_VNODES}, got ${vnodes}`);
  }
  if (algorithm === 'hashring' && options.probes !== undefined) {
    throw new RangeError(
      'probes applies to the "compact" algorithm only: remove probes or set algorithm to "compact"',
    );
  }
  const probes = options.probes ?? DEFAULT_PROBES;
  if (!Number.isInteger(probes) || probes < 1 || probes > MAX_PROBES) {
    throw new RangeError(`probes must be an integer from 1 to ${MAX_PROBES}, got ${probes}`);
  }

  const sorted = members.map((member) => copyMember(member)).sort(compareById);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.id === sorted[i - 1]!.id) {
      throw new RangeError(`node id "${sorted[i]!.id}" appears more than once in the membership`);
    }
  }
  const version = computeRingVersion(sorted);

  if (algorithm === 'hashring') return new HashringRing(sorted, version, vnodes);

  let points = 0;
  for (const member of sorted) points += Math.max(1, Math.round(member.weight * vnodes));
  if (points > MAX_RING_POINTS) {
    throw new RangeError(
      `the ring would have ${points} points, more than ${MAX_RING_POINTS}: lower vnodes or the node weights`,
    );
  }
  return new CompactRing(sorted, version, { pointsPerWeight: vnodes, probes });
}

/** Computes the version of a membership: the same members give the same version in every process. */
export function computeRingVersion(members: readonly RingMember[]): string {
  const lines = [...members]
    .sort(compareById)
    .map((member) => `${member.id}|${member.weight}|${member.url}\n`);
  return createHash('sha256').update(lines.join('')).digest('hex').slice(0, VERSION_HEX_CHARS);
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
