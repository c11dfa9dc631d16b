import type { MessageFrame } from '@switchboard/protocol';

/** A run of sequence numbers of one conversation that the client has not seen yet. */
export interface SequenceGap {
  conv: string;
  /** First missing sequence number. */
  from: number;
  /** Last missing sequence number before the first held-back message. */
  to: number;
}

/**
 * Puts the messages of each conversation in sequence order, once each.
 *
 * Per conversation it keeps `lastSeq`, the highest number up to which every message was
 * released or is known to hold none. A message at `lastSeq + 1` is released together with
 * the held-back messages that follow it. A message further ahead is held back and opens a
 * gap. A message at or below `lastSeq` is a duplicate and dropped. A conversation without
 * `lastSeq` starts at the first message it sees, because older history comes from the API.
 *
 * Example: lastSeq 3, held back {6}. push(5) holds 5 back (gap 4..4); skip([4]) then
 * releases 5 and 6 and leaves lastSeq at 6.
 */
export class OrderingBuffer {
  readonly #lastSeq = new Map<string, number>();
  readonly #heldBack = new Map<string, Map<number, MessageFrame>>();
  /** Numbers above lastSeq that the server reported as holding no message. */
  readonly #skipped = new Map<string, Set<number>>();
  /** Numbers that lastSeq moved past as missing; a message there may still arrive late. */
  readonly #passedOver = new Map<string, Set<number>>();

  constructor(lastSeq: Readonly<Record<string, number>> = {}) {
    for (const [conv, seq] of Object.entries(lastSeq)) this.#lastSeq.set(conv, seq);
  }

  /** Returns the highest released sequence number of a conversation, or undefined if none. */
  lastSeq(conv: string): number | undefined {
    return this.#lastSeq.get(conv);
  }

  /** Accepts one message and returns the messages it releases, in sequence order. */
  push(message: MessageFrame): MessageFrame[] {
    const last = this.#lastSeq.get(message.conv);
    if (last === undefined) {
      this.#lastSeq.set(message.conv, message.seq);
      return [message, ...this.#drain(message.conv)];
    }
    if (message.seq <= last) {
      // A number reported missing can still be used by a send whose log append was in
      // flight when the server answered. Such a message is released late, out of order,
      // rather than dropped: every acknowledged message reaches the application once.
      const passedOver = this.#passedOver.get(message.conv);
      if (passedOver?.delete(message.seq) !== true) return [];
      return [message];
    }
    if (message.seq === last + 1) {
      this.#lastSeq.set(message.conv, message.seq);
      return [message, ...this.#drain(message.conv)];
    }

    let held = this.#heldBack.get(message.conv);
    if (held === undefined) {
      held = new Map();
      this.#heldBack.set(message.conv, held);
    }
    held.set(message.seq, message);
    return [];
  }

  /**
   * Records sequence numbers that hold no message and returns the messages this releases.
   *
   * Numbers of a conversation without `lastSeq`, and numbers at or below it, are ignored.
   */
  skip(conv: string, seqs: readonly number[]): MessageFrame[] {
    const last = this.#lastSeq.get(conv);
    if (last === undefined) return [];

    let skipped = this.#skipped.get(conv);
    for (const seq of seqs) {
      if (seq <= last) continue;
      if (skipped === undefined) {
        skipped = new Set();
        this.#skipped.set(conv, skipped);
      }
      skipped.add(seq);
    }
    return this.#drain(conv);
  }

  /** Returns the first open gap of a conversation, or null when nothing is held back. */
  gap(conv: string): SequenceGap | null {
    const held = this.#heldBack.get(conv);
    const last = this.#lastSeq.get(conv);
    if (held === undefined || held.size === 0 || last === undefined) return null;

    let lowest = Number.POSITIVE_INFINITY;
    for (const seq of held.keys()) lowest = Math.min(lowest, seq);
    return { conv, from: last + 1, to: lowest - 1 };
  }

  /** Returns the first open gap of every conversation that has one. */
  gaps(): SequenceGap[] {
    const gaps: SequenceGap[] = [];
    for (const conv of this.#heldBack.keys()) {
      const gap = this.gap(conv);
      if (gap !== null) gaps.push(gap);
    }
    return gaps;
  }

  /** Returns `lastSeq` of every conversation, for persistence. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.#lastSeq);
  }

  /** Returns the held-back messages of every conversation, for persistence. */
  heldBack(): MessageFrame[] {
    const messages: MessageFrame[] = [];
    for (const held of this.#heldBack.values()) messages.push(...held.values());
    return messages;
  }

  #drain(conv: string): MessageFrame[] {
    const released: MessageFrame[] = [];
    const held = this.#heldBack.get(conv);
    const skipped = this.#skipped.get(conv);
    let last = this.#lastSeq.get(conv) ?? 0;

    for (;;) {
      const next = held?.get(last + 1);
      if (next !== undefined) {
        held?.delete(last + 1);
        released.push(next);
      } else if (skipped?.has(last + 1) === true) {
        this.#rememberPassedOver(conv, last + 1);
      } else {
        break;
      }
      last += 1;
    }

    this.#lastSeq.set(conv, last);
    if (held !== undefined && held.size === 0) this.#heldBack.delete(conv);
    if (skipped !== undefined) {
      for (const seq of skipped) if (seq <= last) skipped.delete(seq);
      if (skipped.size === 0) this.#skipped.delete(conv);
    }
    return released;
  }

  #rememberPassedOver(conv: string, seq: number): void {
    let passedOver = this.#passedOver.get(conv);
    if (passedOver === undefined) {
      passedOver = new Set();
      this.#passedOver.set(conv, passedOver);
    }
    passedOver.add(seq);
    // Bounded: a late message older than the last 1,000 passed-over numbers is dropped.
    if (passedOver.size > 1000) {
      const oldest = passedOver.values().next().value;
      if (oldest !== undefined) passedOver.delete(oldest);
    }
  }
}
