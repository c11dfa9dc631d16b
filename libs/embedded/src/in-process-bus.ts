import type {
  Bus,
  ClusterEvent,
  DeliveryBatch,
  NodeInfo,
  PresenceChange,
  PresenceDevice,
  PresenceState,
  Unsubscribe,
} from '@switchboard/core';

interface MemberEntry {
  node: NodeInfo;
  expiresAt: number;
}

/** The devices of one user, from device id to the expiry time of its presence. */
type DeviceExpiries = Map<string, number>;

export interface InProcessBusOptions {
  /** How often expired members are swept, in milliseconds. */
  sweepIntervalMs?: number;
}

/**
 * The bus of the embedded profile: every service runs in one process and shares this object.
 *
 * It keeps the semantics of the networked bus: members expire unless refreshed, and a
 * publish is delivered on a later turn of the event loop, never inside the caller's stack.
 */
export class InProcessBus implements Bus {
  readonly #members = new Map<string, MemberEntry>();
  readonly #listeners = new Set<() => void>();
  readonly #channels = new Map<string, Set<(batch: DeliveryBatch) => void>>();
  readonly #eventHandlers = new Set<(event: ClusterEvent) => void>();
  readonly #devices = new Map<string, DeviceExpiries>();
  readonly #lastSeen = new Map<string, number>();
  readonly #presenceListeners = new Set<(changes: PresenceChange[]) => void>();
  readonly #sweeper: NodeJS.Timeout;
  #closed = false;

  constructor(options: InProcessBusOptions = {}) {
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 250);
    this.#sweeper.unref();
  }

  async heartbeat(node: NodeInfo, ttlMs: number): Promise<boolean> {
    this.#assertOpen();
    const now = Date.now();
    const entry = this.#members.get(node.id);
    // An entry past its expiry that the sweep has not removed yet is gone for the readers.
    const known = entry !== undefined && entry.expiresAt > now ? entry : undefined;
    this.#members.set(node.id, { node: { ...node }, expiresAt: now + ttlMs });
    const changed = known === undefined || known.node.url !== node.url || known.node.weight !== node.weight;
    if (changed) this.#notify();
    return known === undefined;
  }

  async leave(nodeId: string): Promise<void> {
    if (this.#members.delete(nodeId)) this.#notify();
  }

  async members(): Promise<NodeInfo[]> {
    this.#sweep();
    return [...this.#members.values()]
      .map((entry) => ({ ...entry.node }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The in-process bus never loses its subscriptions, so the listener is never called. */
  onResubscribed(_listener: () => void): () => void {
    return () => {};
  }

  onMembershipChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async subscribeNode(nodeId: string, handler: (batch: DeliveryBatch) => void): Promise<Unsubscribe> {
    this.#assertOpen();
    let handlers = this.#channels.get(nodeId);
    if (handlers === undefined) {
      handlers = new Set();
      this.#channels.set(nodeId, handlers);
    }
    handlers.add(handler);
    return async () => {
      handlers.delete(handler);
      if (handlers.size === 0) this.#channels.delete(nodeId);
    };
  }

  async publishToNode(nodeId: string, batch: DeliveryBatch): Promise<void> {
    this.#assertOpen();
    const handlers = this.#channels.get(nodeId);
    if (handlers === undefined) return;
    // Copy the set: a handler may unsubscribe while the batch is in flight.
    const targets = [...handlers];
    setImmediate(() => {
      for (const handler of targets) handler(batch);
    });
  }

  async publishEvent(event: ClusterEvent): Promise<void> {
    this.#assertOpen();
    const targets = [...this.#eventHandlers];
    setImmediate(() => {
      for (const handler of targets) handler(event);
    });
  }

  async subscribeEvents(handler: (event: ClusterEvent) => void): Promise<Unsubscribe> {
    this.#assertOpen();
    this.#eventHandlers.add(handler);
    return async () => {
      this.#eventHandlers.delete(handler);
    };
  }

  async refreshPresence(devices: PresenceDevice[], ttlMs: number): Promise<void> {
    this.#assertOpen();
    const expiresAt = Date.now() + ttlMs;
    const changes: PresenceChange[] = [];
    for (const { user, device } of devices) {
      let expiries = this.#devices.get(user);
      if (expiries === undefined) {
        expiries = new Map();
        this.#devices.set(user, expiries);
        changes.push({ user, online: true, at: Date.now() });
      }
      expiries.set(device, expiresAt);
    }
    this.#notifyPresence(changes);
  }

  async removePresence(devices: PresenceDevice[]): Promise<void> {
    this.#assertOpen();
    const now = Date.now();
    const changes: PresenceChange[] = [];
    for (const { user, device } of devices) {
      const expiries = this.#devices.get(user);
      if (expiries === undefined || !expiries.delete(device) || expiries.size > 0) continue;
      this.#devices.delete(user);
      this.#lastSeen.set(user, now);
      changes.push({ user, online: false, at: now });
    }
    this.#notifyPresence(changes);
  }

  async readPresence(users: string[]): Promise<PresenceState[]> {
    this.#assertOpen();
    this.#sweepPresence();
    return users.map((user) => ({
      user,
      online: this.#devices.has(user),
      lastSeen: this.#lastSeen.get(user) ?? null,
    }));
  }

  onPresenceChange(listener: (changes: PresenceChange[]) => void): () => void {
    this.#presenceListeners.add(listener);
    return () => this.#presenceListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#channels.clear();
    this.#listeners.clear();
    this.#eventHandlers.clear();
    this.#presenceListeners.clear();
  }

  /** Expires devices whose TTL passed; a user whose last device expired goes offline. */
  #sweepPresence(): void {
    const now = Date.now();
    const changes: PresenceChange[] = [];
    for (const [user, expiries] of this.#devices) {
      let last = 0;
      for (const [device, expiresAt] of expiries) {
        if (expiresAt > now) continue;
        expiries.delete(device);
        last = Math.max(last, expiresAt);
      }
      if (expiries.size > 0) continue;
      this.#devices.delete(user);
      this.#lastSeen.set(user, last);
      changes.push({ user, online: false, at: last });
    }
    this.#notifyPresence(changes);
  }

  #notifyPresence(changes: PresenceChange[]): void {
    if (changes.length === 0) return;
    // Like a networked bus, listeners hear of a change on a later turn, never inside the caller.
    for (const listener of [...this.#presenceListeners]) setImmediate(() => listener(changes));
  }

  #sweep(): void {
    this.#sweepPresence();
    const now = Date.now();
    let changed = false;
    for (const [id, entry] of this.#members) {
      if (entry.expiresAt <= now) {
        this.#members.delete(id);
        changed = true;
      }
    }
    if (changed) this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) queueMicrotask(listener);
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('InProcessBus is closed');
  }
}
