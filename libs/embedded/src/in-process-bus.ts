import type { Bus, DeliveryBatch, NodeInfo, Unsubscribe } from '@switchboard/core';

interface MemberEntry {
  node: NodeInfo;
  expiresAt: number;
}

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
  readonly #sweeper: NodeJS.Timeout;
  #closed = false;

  constructor(options: InProcessBusOptions = {}) {
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 250);
    this.#sweeper.unref();
  }

  async heartbeat(node: NodeInfo, ttlMs: number): Promise<void> {
    this.#assertOpen();
    const known = this.#members.get(node.id);
    this.#members.set(node.id, { node: { ...node }, expiresAt: Date.now() + ttlMs });
    const changed = known === undefined || known.node.url !== node.url || known.node.weight !== node.weight;
    if (changed) this.#notify();
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

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#channels.clear();
    this.#listeners.clear();
  }

  #sweep(): void {
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
