/** Recipient of a message: a user (one-to-one, created on first use) or a conversation. */
export type SendTarget = { to: string } | { conv: string };

/** A message waiting for its acknowledgement. This form is persisted. */
export interface OutboxEntry {
  /** Client message id; every resend uses it, so the server creates one message. */
  id: string;
  target: SendTarget;
  body: string;
  /** Milliseconds since the epoch when the caller sent it. */
  createdAt: number;
}

interface Slot {
  entry: OutboxEntry;
  /** When it was last written to the current connection, or null if not yet. */
  sentAt: number | null;
  /** When it is due again after a retryable rejection, or null. */
  retryAt: number | null;
  /** Retryable rejections so far, which set the backoff of the next one. */
  rejections: number;
}

/**
 * Messages sent but not yet acknowledged, in the order they were sent.
 *
 * An entry leaves only on its ack or on a final rejection. It is due for (re)sending when
 * the current connection has not carried it yet, or when its last send is older than the
 * send timeout.
 */
export class Outbox {
  readonly #slots = new Map<string, Slot>();

  constructor(entries: readonly OutboxEntry[] = []) {
    for (const entry of entries) this.add(entry);
  }

  get size(): number {
    return this.#slots.size;
  }

  /** Adds an entry. An entry with the same id is kept as it is, so re-adding is harmless. */
  add(entry: OutboxEntry): void {
    if (this.#slots.has(entry.id)) return;
    this.#slots.set(entry.id, { entry, sentAt: null, retryAt: null, rejections: 0 });
  }

  has(id: string): boolean {
    return this.#slots.has(id);
  }

  get(id: string): OutboxEntry | undefined {
    return this.#slots.get(id)?.entry;
  }

  /** Removes an entry (on its ack or rejection) and returns it. */
  remove(id: string): OutboxEntry | undefined {
    const slot = this.#slots.get(id);
    this.#slots.delete(id);
    return slot?.entry;
  }

  /** Records that the entry was written to the connection at `now`. */
  markSent(id: string, now: number): void {
    const slot = this.#slots.get(id);
    if (slot === undefined) return;
    slot.sentAt = now;
    slot.retryAt = null;
  }

  /**
   * Makes an entry that the server rejected as retryable due again after a backoff that
   * doubles from `baseMs` with each rejection, up to `maxMs`. Returns the delay, or null
   * when there is no such entry.
   */
  retryLater(id: string, now: number, baseMs: number, maxMs: number): number | null {
    const slot = this.#slots.get(id);
    if (slot === undefined) return null;
    const delay = Math.min(baseMs * 2 ** Math.min(slot.rejections, 20), maxMs);
    slot.rejections += 1;
    slot.retryAt = now + delay;
    return delay;
  }

  /** Marks every entry as not carried by any connection, after a disconnect. */
  markAllUnsent(): void {
    for (const slot of this.#slots.values()) {
      slot.sentAt = null;
      slot.retryAt = null;
    }
  }

  /** Returns the entries to write now, in send order. */
  due(now: number, timeoutMs: number): OutboxEntry[] {
    const due: OutboxEntry[] = [];
    for (const slot of this.#slots.values()) {
      const retryDue = slot.retryAt !== null && now >= slot.retryAt;
      if (slot.sentAt === null || now - slot.sentAt >= timeoutMs || retryDue) due.push(slot.entry);
    }
    return due;
  }

  /** Returns every entry in send order, for persistence. */
  entries(): OutboxEntry[] {
    return [...this.#slots.values()].map((slot) => slot.entry);
  }
}
