import { EventEmitter } from 'node:events';
import { assertRingMember, buildRing, computeRingVersion, type Ring } from '@switchboard/ring';
import { ConfigError } from './errors.ts';
import { createLogger, type Logger } from './logger.ts';
import type { Bus, NodeInfo } from './ports/bus.ts';

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1000;
export const DEFAULT_HEARTBEAT_TTL_MS = 3000;
export const DEFAULT_MEMBERSHIP_REFRESH_MS = 1000;
/** Default expiry sweep interval of the embedded bus (InProcessBus `sweepIntervalMs`). */
export const EMBEDDED_SWEEP_INTERVAL_MS = 250;

/**
 * Computes how long, at most, a node that stopped heartbeating stays in a MembershipView's
 * ring: its entry expires `ttlMs` after the last heartbeat, the bus notices the expiry
 * within one sweep, and a view that missed the notice re-reads the members within `refreshMs`.
 */
export function computeMembershipExpiryBound(settings: {
  ttlMs: number;
  sweepIntervalMs: number;
  refreshMs: number;
}): number {
  return settings.ttlMs + settings.sweepIntervalMs + settings.refreshMs;
}

/**
 * Maximum time in milliseconds that a dead node stays in the ring with the default heartbeat
 * TTL (3000), the embedded bus's default sweep (250) and the default view refresh (1000).
 */
export const MEMBERSHIP_EXPIRY_BOUND_MS = computeMembershipExpiryBound({
  ttlMs: DEFAULT_HEARTBEAT_TTL_MS,
  sweepIntervalMs: EMBEDDED_SWEEP_INTERVAL_MS,
  refreshMs: DEFAULT_MEMBERSHIP_REFRESH_MS,
});

/** The rings before and after a membership change. */
export interface RingChange {
  previous: Ring;
  current: Ring;
}

export interface MembershipViewEvents {
  change: [RingChange];
}

export interface MembershipViewOptions {
  bus: Bus;
  /** Interval in milliseconds at which the members are re-read even without a change notice. */
  refreshMs?: number;
  /** Virtual nodes per unit of weight. Every process of a cluster must use the same value. */
  vnodes?: number;
  logger?: Logger;
}

/**
 * Keeps a consistent-hash ring of the live chat nodes, rebuilt from the bus's membership.
 *
 * The view re-reads `members()` on every change notice and every `refreshMs`, so an expiry is
 * seen even when a notice is lost. It builds a new ring only when the membership version
 * changes, then emits `change` with the previous and the current ring.
 */
export class MembershipView extends EventEmitter<MembershipViewEvents> {
  readonly #bus: Bus;
  readonly #refreshMs: number;
  readonly #vnodes: number | undefined;
  readonly #logger: Logger;
  #ring: Ring;
  #members: readonly NodeInfo[] = [];
  #membersById = new Map<string, NodeInfo>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #running: Promise<void> | null = null;
  #pending = false;
  #started = false;
  #stopped = false;
  #failures = 0;
  // Keys of malformed members already logged, so one bad announcement logs once, not per refresh.
  readonly #rejected = new Set<string>();

  constructor(options: MembershipViewOptions) {
    super();
    const refreshMs = options.refreshMs ?? DEFAULT_MEMBERSHIP_REFRESH_MS;
    if (!Number.isInteger(refreshMs) || refreshMs < 1) {
      throw new ConfigError('refreshMs', `must be a positive integer, got ${refreshMs}`);
    }
    this.#bus = options.bus;
    this.#refreshMs = refreshMs;
    this.#vnodes = options.vnodes;
    this.#logger = options.logger ?? createLogger('membership');
    this.#ring = buildRing([], { vnodes: options.vnodes });
  }

  /** The current ring, which is empty until `start()` resolves. */
  get ring(): Ring {
    return this.#ring;
  }

  /** Version of the current ring. */
  get ringVersion(): string {
    return this.#ring.version;
  }

  /** Live members sorted by id, as last read from the bus. */
  get members(): readonly NodeInfo[] {
    return this.#members;
  }

  /** Returns the node that owns `userId`, or null when the ring is empty. */
  ownerOf(userId: string): NodeInfo | null {
    const nodeId = this.#ring.ownerOf(userId);
    if (nodeId === null) return null;
    return this.#membersById.get(nodeId) ?? null;
  }

  /** Adds a `change` listener and returns a function that removes it. */
  onChange(listener: (change: RingChange) => void): () => void {
    this.on('change', listener);
    return () => {
      this.off('change', listener);
    };
  }

  /**
   * Re-reads the members now and resolves once the ring reflects them, for callers that
   * just changed the membership and cannot wait for the next notice or interval.
   * Rejects when the bus cannot be read, and the ring then keeps its last value.
   */
  refresh(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return this.#requestRefresh();
  }

  /**
   * Loads the members, subscribes to change notices and starts the periodic refresh.
   *
   * Rejects, and leaves nothing running, when the first read of the members fails.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('MembershipView.start() was already called');
    this.#started = true;

    // Subscribe before the first read, so a change during that read triggers another one.
    this.#unsubscribe = this.#bus.onMembershipChange(() => this.#refreshInBackground());
    try {
      await this.#requestRefresh();
    } catch (err) {
      await this.stop();
      throw err;
    }

    this.#timer = setInterval(() => this.#refreshInBackground(), this.#refreshMs);
    this.#timer.unref();
  }

  /** Stops refreshing and waits for a refresh in progress. The ring keeps its last value. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    await this.#running?.catch(() => undefined);
  }

  #refreshInBackground(): void {
    if (this.#stopped) return;
    this.#requestRefresh().catch((err: unknown) => this.#recordFailure(err));
  }

  // Runs one refresh at a time. A request that arrives during a refresh sets #pending and
  // shares its promise, so the loop reads the members once more after the current read: a
  // notice sent while members() was in flight is never lost.
  #requestRefresh(): Promise<void> {
    if (this.#running !== null) {
      this.#pending = true;
      return this.#running;
    }
    this.#running = this.#refreshLoop().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #refreshLoop(): Promise<void> {
    let failed = false;
    let failure: unknown;
    do {
      this.#pending = false;
      try {
        await this.#refreshOnce();
        failed = false;
      } catch (err) {
        failed = true;
        failure = err;
      }
    } while (this.#pending && !this.#stopped);
    if (failed) throw failure;
  }

  async #refreshOnce(): Promise<void> {
    const read = await this.#bus.members();
    if (this.#stopped) return;

    const members = read.filter((member) => this.#isPlaceable(member)).map(freezeNode);
    this.#members = Object.freeze(members);
    this.#membersById = new Map(members.map((member) => [member.id, member]));
    if (this.#failures > 0) {
      this.#logger.info({ failures: this.#failures }, 'membership refresh recovered');
      this.#failures = 0;
    }

    // Fast path: heartbeats that change nothing keep the same version and the same ring.
    if (computeRingVersion(members) === this.#ring.version) return;

    const previous = this.#ring;
    const current = buildRing(members, { vnodes: this.#vnodes });
    this.#ring = current;
    this.#logger.info(
      { previousVersion: previous.version, version: current.version, nodes: current.nodes },
      'ring changed',
    );
    try {
      this.emit('change', { previous, current });
    } catch (err) {
      this.#logger.error({ err, version: current.version }, 'ring change listener failed');
    }
  }

  #isPlaceable(member: NodeInfo): boolean {
    try {
      assertRingMember(member);
      return true;
    } catch (err) {
      const key = `${member.id}|${member.weight}|${member.url}`;
      if (!this.#rejected.has(key)) {
        this.#rejected.add(key);
        this.#logger.error({ err, node: member.id }, 'malformed member left out of the ring');
      }
      return false;
    }
  }

  // Only the first failure in a row is logged at warn. Repeats go to debug with their count,
  // and the next success logs how many there were.
  #recordFailure(err: unknown): void {
    this.#failures++;
    if (this.#failures === 1) {
      this.#logger.warn({ err }, 'membership refresh failed, keeping the last ring');
    } else {
      this.#logger.debug({ err, failures: this.#failures }, 'membership refresh failed again');
    }
  }
}

export interface NodeHeartbeatOptions {
  bus: Bus;
  /** The node to announce. */
  node: NodeInfo;
  /** Interval between heartbeats in milliseconds. */
  intervalMs?: number;
  /** Lifetime of one heartbeat in milliseconds, which must exceed `intervalMs`. */
  ttlMs?: number;
  logger?: Logger;
}

/**
 * Announces a chat node on the bus: a heartbeat at start, then one every `intervalMs`, each
 * valid for `ttlMs`. A failed heartbeat is logged at warn and the next one is tried on time.
 */
export class NodeHeartbeat {
  readonly node: NodeInfo;
  readonly #bus: Bus;
  readonly #intervalMs: number;
  readonly #ttlMs: number;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | null = null;
  #started = false;
  #stopped = false;
  #failures = 0;
  /** Whether a heartbeat has succeeded, so that a later join is a rejoin. */
  #joined = false;
  readonly #rejoinListeners = new Set<() => void>();

  constructor(options: NodeHeartbeatOptions) {
    const intervalMs = options.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    const ttlMs = options.ttlMs ?? DEFAULT_HEARTBEAT_TTL_MS;
    if (!Number.isInteger(intervalMs) || intervalMs < 1) {
      throw new ConfigError('intervalMs', `must be a positive integer, got ${intervalMs}`);
    }
    // A TTL no longer than the interval would expire the node between two healthy heartbeats.
    if (!Number.isInteger(ttlMs) || ttlMs <= intervalMs) {
      throw new ConfigError('ttlMs', `must be an integer above intervalMs (${intervalMs}), got ${ttlMs}`);
    }
    try {
      assertRingMember(options.node);
    } catch (err) {
      throw new ConfigError('node', (err as Error).message);
    }
    this.node = freezeNode(options.node);
    this.#bus = options.bus;
    this.#intervalMs = intervalMs;
    this.#ttlMs = ttlMs;
    this.#logger = options.logger ?? createLogger('membership');
  }

  /**
   * Sends the first heartbeat and starts the interval.
   *
   * Resolves once the first heartbeat was tried, whether or not it succeeded: a failure is
   * logged, and the node joins on the first heartbeat that succeeds.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('NodeHeartbeat.start() was already called');
    this.#started = true;

    this.#timer = setInterval(() => void this.#beat(), this.#intervalMs);
    this.#timer.unref();
    await this.#beat();
  }

  /**
   * Calls `listener` when a heartbeat finds that the node's entry had expired, as after a
   * pause longer than the TTL. Until then the ring of every other process placed this
   * node's users elsewhere, so live deliveries to them went to other nodes. Returns a remover.
   */
  onRejoin(listener: () => void): () => void {
    this.#rejoinListeners.add(listener);
    return () => this.#rejoinListeners.delete(listener);
  }

  /**
   * Stops the heartbeats. With `leave: true` the node also leaves the membership at once
   * instead of expiring after the TTL. A failed leave is logged, not thrown.
   */
  async stop(options: { leave?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    // A heartbeat still in flight would add the node back after the leave, until its TTL.
    await this.#inFlight;

    if (!options.leave) return;
    try {
      await this.#bus.leave(this.node.id);
    } catch (err) {
      this.#logger.warn({ err, node: this.node.id }, 'leave failed, so the node expires after its TTL');
    }
  }

  #beat(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    // Skip a tick while the previous heartbeat is still in flight rather than stack them up.
    if (this.#inFlight !== null) return this.#inFlight;
    this.#inFlight = this.#send().finally(() => {
      this.#inFlight = null;
    });
    return this.#inFlight;
  }

  async #send(): Promise<void> {
    let joined: boolean;
    try {
      joined = await this.#bus.heartbeat(this.node, this.#ttlMs);
    } catch (err) {
      this.#failures++;
      this.#logger.warn(
        { err, node: this.node.id, failures: this.#failures },
        'heartbeat failed, retrying on the next interval',
      );
      return;
    }
    if (this.#failures > 0) {
      this.#logger.info({ node: this.node.id, failures: this.#failures }, 'heartbeat recovered');
      this.#failures = 0;
    }
    const rejoined = joined && this.#joined;
    this.#joined = true;
    if (!rejoined || this.#stopped) return;
    this.#logger.warn({ node: this.node.id }, 'node rejoined the membership after its entry expired');
    for (const listener of [...this.#rejoinListeners]) {
      try {
        listener();
      } catch (err) {
        this.#logger.error({ err }, 'rejoin listener failed');
      }
    }
  }
}

function freezeNode(node: NodeInfo): NodeInfo {
  return Object.freeze({ id: node.id, url: node.url, weight: node.weight, startedAt: node.startedAt });
}
