/**
 * Send-to-deliver latency and delivery checks for the chat scenarios.
 *
 * Every body starts with `<send time>|<counter>#` (see `buildBody`), and each sender counts
 * its messages 1, 2, 3, ... in the order it sends them on one connection. A receiver expects
 * each sender's counters in that order, once each. When a sender stops, it sends one last
 * message whose body is `fin|<count>`, so the receiver also notices messages lost at the end.
 */
import { Counter, Trend } from 'k6/metrics';
import { parseBody } from './frames.ts';

export const sendToDeliverMs = new Trend('swb_send_to_deliver_ms', true);
export const delivered = new Counter('swb_delivered');
export const lost = new Counter('swb_lost');
export const duplicated = new Counter('swb_duplicated');
export const outOfOrder = new Counter('swb_out_of_order');

interface SenderState {
  /** Highest counter received so far. */
  last: number;
  received: number;
  seen: Set<number>;
  /** Count announced by the sender's `fin` message, or -1 before it arrived. */
  finCount: number;
}

/** Checks deliveries from any number of senders to one receiving connection. */
export class DeliveryTracker {
  readonly #senders: Record<string, SenderState> = {};
  readonly #expectedSenders: number;
  #finished = 0;

  /** `expectedSenders` is how many senders will each send a `fin` message. */
  constructor(expectedSenders: number) {
    this.#expectedSenders = expectedSenders;
  }

  /** True once every expected sender's `fin` message arrived. */
  get complete(): boolean {
    return this.#finished >= this.#expectedSenders;
  }

  /** Records one delivered message. */
  onMessage(from: string, body: string, nowMs: number): void {
    const sender = this.#sender(from);
    if (body.startsWith('fin|')) {
      if (sender.finCount >= 0) return;
      sender.finCount = Number(body.slice(4));
      this.#finished++;
      if (sender.finCount > sender.received) lost.add(sender.finCount - sender.received);
      return;
    }
    const parsed = parseBody(body);
    if (parsed === null) return;
    if (sender.seen.has(parsed.counter)) {
      duplicated.add(1);
      return;
    }
    // Counters are sent in order on one connection, so a lower one than the highest seen
    // arrived after a message that was sent later.
    if (parsed.counter < sender.last) outOfOrder.add(1);
    sender.seen.add(parsed.counter);
    sender.last = Math.max(sender.last, parsed.counter);
    sender.received++;
    delivered.add(1);
    sendToDeliverMs.add(nowMs - parsed.sentAtMs);
  }

  /** Counts every sender whose `fin` never arrived as having lost at least that message. */
  finish(): void {
    const missing = this.#expectedSenders - this.#finished;
    if (missing > 0) lost.add(missing);
  }

  #sender(from: string): SenderState {
    let sender = this.#senders[from];
    if (sender === undefined) {
      sender = { last: 0, received: 0, seen: new Set(), finCount: -1 };
      this.#senders[from] = sender;
    }
    return sender;
  }
}
