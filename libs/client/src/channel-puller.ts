/** The client and connection calls that the puller uses. */
export interface ChannelPullerHost {
  /** Highest emitted sequence number of a conversation, or undefined. */
  lastSeq(conv: string): number | undefined;
  /** Widest range of one fetch, or null while not connected. */
  fetchRangeMax(): number | null;
  /** True while another read (a sync or a gap fetch) is in flight on the connection. */
  isReading(): boolean;
  /** Sends a fetch and returns its id; null when there is no open connection. */
  sendFetch(conv: string, from: number, to: number): string | null;
  /** Called when the puller's fetch is no longer in flight, whether or not a response came. */
  readDone(): void;
}

/**
 * Pulls the messages of large groups and channels after `notice` frames.
 *
 * A notice means that every message up to `seq` exists. The puller fetches what the client
 * lacks, one fetch at a time because the node answers one read per connection at a time, and
 * moves on to the next conversation when one is caught up. A conversation the client has
 * never seen starts with its newest page; older messages come from the history API.
 */
export class ChannelPuller {
  readonly #host: ChannelPullerHost;
  readonly #retryMs: number;
  /** Target sequence number per conversation still to pull. */
  readonly #targets = new Map<string, number>();
  #inFlight: {
    id: string;
    conv: string;
    before: number | undefined;
    timer: ReturnType<typeof setTimeout>;
  } | null = null;

  constructor(host: ChannelPullerHost, retryMs: number) {
    this.#host = host;
    this.#retryMs = retryMs;
  }

  notice(conv: string, seq: number): void {
    const last = this.#host.lastSeq(conv);
    if (last !== undefined && last >= seq) return;
    this.#targets.set(conv, Math.max(seq, this.#targets.get(conv) ?? 0));
    this.pump();
  }

  /** True while a fetch of the puller is in flight. */
  get busy(): boolean {
    return this.#inFlight !== null;
  }

  /**
   * Reports an error in response to the fetch `id`, and sends it again after `retryMs`.
   * Returns false when `id` is not the puller's fetch in flight.
   */
  failed(id: string, retryMs: number): boolean {
    const inFlight = this.#inFlight;
    if (inFlight === null || inFlight.id !== id) return false;
    clearTimeout(inFlight.timer);
    this.#inFlight = null;
    this.#host.readDone();
    setTimeout(() => this.pump(), retryMs);
    return true;
  }

  /** Reports that a `fetched` frame of `conv` was applied. */
  fetched(conv: string): void {
    const inFlight = this.#inFlight;
    if (inFlight === null || inFlight.conv !== conv) return;
    clearTimeout(inFlight.timer);
    this.#inFlight = null;

    const last = this.#host.lastSeq(conv);
    const target = this.#targets.get(conv) ?? 0;
    // A page that moved nothing (every number missing for this user) ends the pull.
    if (last === undefined || last >= target || last === inFlight.before) this.#targets.delete(conv);
    this.pump();
  }

  /** Sends the next fetch, unless one is in flight or the connection is busy or down. */
  pump(): void {
    if (this.#inFlight !== null || this.#host.isReading()) return;
    const max = this.#host.fetchRangeMax();
    if (max === null) return;

    for (const [conv, target] of this.#targets) {
      const last = this.#host.lastSeq(conv);
      if (last !== undefined && last >= target) {
        this.#targets.delete(conv);
        continue;
      }
      const from = last === undefined ? Math.max(1, target - max + 1) : last + 1;
      const to = Math.min(target, from + max - 1);
      const id = this.#host.sendFetch(conv, from, to);
      if (id === null) return;
      const timer = setTimeout(() => {
        // No response arrived, so try again.
        this.#inFlight = null;
        this.#host.readDone();
        this.pump();
      }, this.#retryMs);
      this.#inFlight = { id, conv, before: last, timer };
      return;
    }
  }

  /** Forgets the fetch in flight, after a disconnect; the targets stay for the next connection. */
  reset(): void {
    if (this.#inFlight !== null) clearTimeout(this.#inFlight.timer);
    this.#inFlight = null;
  }
}
