import type { Bus, Logger, PresenceChange, PresenceDevice, PresenceState } from '@switchboard/core';
import type { PresenceEntry, PresenceFrame } from '@switchboard/protocol';

export interface PresenceHubOptions<S> {
  bus: Bus;
  logger: Logger;
  /** Lifetime of a device's presence; renewed every third of it. */
  ttlMs: number;
  /** Interval over which changes are coalesced into one frame per subscribed connection. */
  intervalMs: number;
  /** Devices connected to this node, for the renewal. */
  devices: () => Iterable<PresenceDevice>;
  /** Writes a frame to one connection. */
  send: (socket: S, frame: PresenceFrame) => void;
  /** Returns the users who block `user`; their presence is hidden from `user`. */
  blockersOf: (user: string) => Promise<Set<string>>;
}

/** One connection's subscription: who it watches, and whose presence is hidden from it. */
interface Subscription {
  user: string;
  watched: string[];
  hidden: Set<string>;
}

/**
 * Presence on one chat node: announces its devices, renews them, and passes changes on to the
 * connections that subscribed to them.
 *
 * Changes from the bus are buffered per user, the latest winning, and flushed once per
 * interval as one `presence` frame per subscribed connection. A node with 50,000 users that
 * dies therefore costs each other node one flush of one frame per subscriber, not one frame
 * per change.
 */
export class PresenceHub<S extends object> {
  readonly #options: PresenceHubOptions<S>;
  readonly #subscriptions = new Map<S, Subscription>();
  /** Subscribed connections by watched user. */
  readonly #watchers = new Map<string, Set<S>>();
  readonly #pending = new Map<string, PresenceChange>();
  /** Subscribe calls per connection, so a call that a later one or a close overtook does nothing. */
  readonly #generations = new WeakMap<S, number>();
  #removeListener: (() => void) | null = null;
  #renewTimer: NodeJS.Timeout | null = null;
  #flushTimer: NodeJS.Timeout | null = null;
  #renewing = false;
  #stopped = false;

  constructor(options: PresenceHubOptions<S>) {
    this.#options = options;
  }

  /** Number of connections with a subscription. */
  get subscriberCount(): number {
    return this.#subscriptions.size;
  }

  start(): void {
    this.#removeListener = this.#options.bus.onPresenceChange((changes) => this.#buffer(changes));
    this.#renewTimer = setInterval(
      () => void this.#renew(),
      Math.max(50, Math.floor(this.#options.ttlMs / 3)),
    );
    this.#renewTimer.unref();
    this.#flushTimer = setInterval(() => this.#flush(), this.#options.intervalMs);
    this.#flushTimer.unref();
  }

  /**
   * Stops renewing and passing changes on. The devices of this node are not removed: after a
   * drain their connections were closed one by one, and after a crash they must expire.
   */
  stop(): void {
    this.#stopped = true;
    this.#removeListener?.();
    this.#removeListener = null;
    if (this.#renewTimer !== null) clearInterval(this.#renewTimer);
    if (this.#flushTimer !== null) clearInterval(this.#flushTimer);
    this.#renewTimer = null;
    this.#flushTimer = null;
    this.#subscriptions.clear();
    this.#watchers.clear();
    this.#pending.clear();
  }

  /** Announces a newly connected device. */
  connected(device: PresenceDevice): void {
    if (this.#stopped) return;
    this.#options.bus.refreshPresence([device], this.#options.ttlMs).catch((err: unknown) => {
      this.#options.logger.warn({ err, userId: device.user }, 'presence refresh failed');
    });
  }

  /** Removes a closed connection's device and its subscription. */
  disconnected(socket: S, device: PresenceDevice): void {
    this.#nextGeneration(socket);
    this.#unsubscribe(socket);
    if (this.#stopped) return;
    this.#options.bus.removePresence([device]).catch((err: unknown) => {
      this.#options.logger.warn({ err, userId: device.user }, 'presence removal failed');
    });
  }

  /**
   * Replaces the subscription of a connection of `user` with `watched`, and sends the current
   * presence of those users in one frame. An empty list ends the subscription.
   */
  async subscribe(socket: S, user: string, watched: string[]): Promise<void> {
    const generation = this.#nextGeneration(socket);
    this.#unsubscribe(socket);
    if (watched.length === 0) return;

    const [states, blockers] = await Promise.all([
      this.#options.bus.readPresence(watched),
      this.#options.blockersOf(user),
    ]);
    if (this.#generations.get(socket) !== generation || this.#stopped) return;
    const hidden = new Set(watched.filter((watchedUser) => blockers.has(watchedUser)));
    const subscription: Subscription = { user, watched, hidden };
    this.#subscriptions.set(socket, subscription);
    for (const watchedUser of watched) {
      let sockets = this.#watchers.get(watchedUser);
      if (sockets === undefined) {
        sockets = new Set();
        this.#watchers.set(watchedUser, sockets);
      }
      sockets.add(socket);
    }
    this.#options.send(socket, { type: 'presence', users: states.map((state) => toEntry(state, hidden)) });
  }

  /**
   * Applies a block or unblock between two users to the subscriptions of `blocked` on this
   * node: a blocker's presence turns hidden, an unblocker's shows again.
   */
  async blockChanged(blocker: string, blocked: string): Promise<void> {
    const affected = [...(this.#watchers.get(blocker) ?? [])].filter(
      (socket) => this.#subscriptions.get(socket)?.user === blocked,
    );
    if (affected.length === 0) return;
    const [blockers, [state]] = await Promise.all([
      this.#options.blockersOf(blocked),
      this.#options.bus.readPresence([blocker]),
    ]);
    for (const socket of affected) {
      const subscription = this.#subscriptions.get(socket);
      if (subscription === undefined) continue;
      if (blockers.has(blocker)) subscription.hidden.add(blocker);
      else subscription.hidden.delete(blocker);
      this.#options.send(socket, { type: 'presence', users: [toEntry(state!, subscription.hidden)] });
    }
  }

  #nextGeneration(socket: S): number {
    const generation = (this.#generations.get(socket) ?? 0) + 1;
    this.#generations.set(socket, generation);
    return generation;
  }

  #unsubscribe(socket: S): void {
    const subscription = this.#subscriptions.get(socket);
    if (subscription === undefined) return;
    this.#subscriptions.delete(socket);
    for (const watchedUser of subscription.watched) {
      const sockets = this.#watchers.get(watchedUser);
      sockets?.delete(socket);
      if (sockets?.size === 0) this.#watchers.delete(watchedUser);
    }
  }

  #buffer(changes: PresenceChange[]): void {
    for (const change of changes) {
      // Only users someone here watches are kept, so a storm costs one map lookup per change.
      if (this.#watchers.has(change.user)) this.#pending.set(change.user, change);
    }
  }

  #flush(): void {
    if (this.#pending.size === 0) return;
    const frames = new Map<S, PresenceEntry[]>();
    for (const [user, change] of this.#pending) {
      for (const socket of this.#watchers.get(user) ?? []) {
        const subscription = this.#subscriptions.get(socket);
        if (subscription === undefined) continue;
        let entries = frames.get(socket);
        if (entries === undefined) {
          entries = [];
          frames.set(socket, entries);
        }
        entries.push(
          toEntry(
            { user, online: change.online, lastSeen: change.online ? null : change.at },
            subscription.hidden,
          ),
        );
      }
    }
    this.#pending.clear();
    for (const [socket, users] of frames) this.#options.send(socket, { type: 'presence', users });
  }

  async #renew(): Promise<void> {
    if (this.#renewing || this.#stopped) return;
    this.#renewing = true;
    try {
      const devices = [...this.#options.devices()];
      if (devices.length > 0) await this.#options.bus.refreshPresence(devices, this.#options.ttlMs);
    } catch (err) {
      this.#options.logger.warn({ err }, 'presence renewal failed');
    } finally {
      this.#renewing = false;
    }
  }
}

/** Builds the entry for a subscriber. A user who blocks the subscriber shows as offline with no time. */
function toEntry(state: PresenceState, hidden: ReadonlySet<string>): PresenceEntry {
  if (hidden.has(state.user)) return { user: state.user, online: false };
  if (state.online || state.lastSeen === null) return { user: state.user, online: state.online };
  return { user: state.user, online: false, lastSeen: state.lastSeen };
}
