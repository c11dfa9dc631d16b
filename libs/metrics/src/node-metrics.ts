import type { HistogramSeries, HotHistogram } from './hot-histogram.ts';

/** A counter of one label value, incremented in place. */
export interface Tally {
  readonly label: string;
  value: number;
}

interface SentPrefix {
  /** Start of every serialized frame of this type, such as `{"type":"message"`. */
  prefix: string;
  tally: Tally;
}

/** Outcome for a connection that fell behind: its live deliveries dropped, or the connection closed. */
export type SlowConsumerAction = 'behind' | 'closed';

/** Serialized frame types kept apart before the rest count as `other`; a guard, never reached. */
const MAX_SENT_TYPES = 64;
const FRAME_TYPE_PATTERN = /^\{"type":"([a-z_]{1,32})"/;

/**
 * The instruments of one chat node, updated on the message path.
 *
 * Every method adds to a number held here, so a frame costs no allocation and no label lookup
 * beyond a small map; SwitchboardMetrics turns the numbers into samples at scrape time.
 */
export class NodeMetrics {
  readonly node: string;
  readonly ackLatency: HistogramSeries;
  readonly sendToDeliver: HistogramSeries;
  readonly #received = new Map<string, Tally>();
  readonly #sent = new Map<string, Tally>();
  readonly #sentPrefixes: SentPrefix[] = [];
  readonly #sentMessage: Tally;
  readonly #sentOther: Tally;
  readonly #delivered = { local: 0, remote: 0 };
  readonly #slow = { behind: 0, closed: 0 };
  #accepted = 0;
  #crossNodePublishes = 0;
  #rateLimited = 0;
  #connections: (() => number) | null = null;

  constructor(node: string, histograms: { ackLatency: HotHistogram; sendToDeliver: HotHistogram }) {
    this.node = node;
    this.ackLatency = histograms.ackLatency.series(node);
    this.sendToDeliver = histograms.sendToDeliver.series(node);
    // Deliveries are mostly messages, so their prefix is tested first.
    this.#sentMessage = this.#sentTally('message');
    this.#sentTally('receipt');
    this.#sentOther = { label: 'other', value: 0 };
  }

  /** Counts one inbound frame by its decoded type, or `invalid` for one that did not decode. */
  frameReceived(type: string): void {
    let tally = this.#received.get(type);
    if (tally === undefined) {
      tally = { label: type, value: 0 };
      this.#received.set(type, tally);
    }
    tally.value++;
  }

  /** Counts one frame written to a connection, by its type. */
  frameSent(type: string): void {
    this.#sentTally(type).value++;
  }

  /**
   * Counts one serialized delivery written to a connection: a frame sent and, for a message,
   * a delivery by `path` and its time since accept.
   *
   * @param acceptedAt accept time of the message in milliseconds since the epoch, when known
   */
  deliveryWritten(frame: string, path: 'local' | 'remote', acceptedAt: number | undefined): void {
    const tally = this.#classify(frame);
    tally.value++;
    if (tally !== this.#sentMessage) return;
    this.#delivered[path]++;
    if (acceptedAt !== undefined) this.sendToDeliver.observe((Date.now() - acceptedAt) / 1000);
  }

  /** Counts one message accepted: sequenced, appended to the log and acknowledged. */
  messageAccepted(): void {
    this.#accepted++;
  }

  /** Records the time from a send frame's arrival to its acknowledgement, in seconds. */
  ackSent(seconds: number): void {
    this.ackLatency.observe(seconds);
  }

  /** Counts one batch of deliveries published to another node. */
  crossNodePublish(): void {
    this.#crossNodePublishes++;
  }

  /** Counts one inbound frame dropped or refused for the connection's frame rate. */
  rateLimited(): void {
    this.#rateLimited++;
  }

  /** Counts one connection that fell behind or was closed for it. */
  slowConsumer(action: SlowConsumerAction): void {
    this.#slow[action]++;
  }

  /** Sets the function that returns the node's open connections; null while it is stopped. */
  setConnectionSource(count: (() => number) | null): void {
    this.#connections = count;
  }

  /** Open connections now; 0 while the node is stopped. */
  get connections(): number {
    return this.#connections?.() ?? 0;
  }

  get messagesAccepted(): number {
    return this.#accepted;
  }

  get crossNodePublishes(): number {
    return this.#crossNodePublishes;
  }

  get rateLimitedFrames(): number {
    return this.#rateLimited;
  }

  /** Messages written to connections, by whether they came from this node or another. */
  get delivered(): Readonly<{ local: number; remote: number }> {
    return this.#delivered;
  }

  get slowConsumers(): Readonly<Record<SlowConsumerAction, number>> {
    return this.#slow;
  }

  /** Inbound frames by type. */
  receivedFrames(): Iterable<Tally> {
    return this.#received.values();
  }

  /** Outbound frames by type. */
  *sentFrames(): Iterable<Tally> {
    yield* this.#sent.values();
    if (this.#sentOther.value > 0) yield this.#sentOther;
  }

  #sentTally(type: string): Tally {
    let tally = this.#sent.get(type);
    if (tally === undefined) {
      tally = { label: type, value: 0 };
      this.#sent.set(type, tally);
      this.#sentPrefixes.push({ prefix: `{"type":"${type}"`, tally });
    }
    return tally;
  }

  /**
   * Finds the type of a serialized frame without parsing it. Every server frame is built with
   * `type` as its first key, so a prefix test suffices. A type seen for the first time costs
   * one regular expression match, and later ones cost a few `startsWith` calls.
   */
  #classify(frame: string): Tally {
    const prefixes = this.#sentPrefixes;
    for (let i = 0; i < prefixes.length; i++) {
      if (frame.startsWith(prefixes[i]!.prefix)) return prefixes[i]!.tally;
    }
    const match = FRAME_TYPE_PATTERN.exec(frame);
    if (match === null || this.#sent.size >= MAX_SENT_TYPES) return this.#sentOther;
    return this.#sentTally(match[1]!);
  }
}
