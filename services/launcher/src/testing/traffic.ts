import { buildDirectConversationId } from '@switchboard/protocol';
import { registerUser, waitFor, type TestCluster, type TestUser } from './cluster.ts';
import { connectDevice, type Device } from './sdk.ts';

/** A sender and a receiver with one device each, and their conversation. */
export interface Pair {
  sender: TestUser;
  receiver: TestUser;
  senderDevice: Device;
  receiverDevice: Device;
  conv: string;
}

/** A message the server acknowledged. */
export interface Acked {
  conv: string;
  seq: number;
  body: string;
}

/** One history page of GET /v1/conversations/{id}/messages. */
interface HistoryPage {
  messages: Array<{ seq: number; body: string }>;
  nextCursor: string | null;
}

/**
 * Pairs of SDK users that send at a steady rate, and the acknowledgements they got, for tests
 * that break something under load and then check that no acknowledged message was lost.
 */
export class SteadyTraffic {
  readonly pairs: Pair[] = [];
  readonly acked: Acked[] = [];
  readonly #cluster: TestCluster;
  #counter = 0;

  constructor(cluster: TestCluster) {
    this.#cluster = cluster;
  }

  /** Registers `count` pairs named after `prefix`, connects them and sends a first message each. */
  async addPairs(prefix: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const sender = await registerUser(this.#cluster.apiUrl, `${prefix}${i}s`);
      const receiver = await registerUser(this.#cluster.apiUrl, `${prefix}${i}r`);
      const senderDevice = await connectDevice(this.#cluster, sender);
      const receiverDevice = await connectDevice(this.#cluster, receiver);
      const conv = buildDirectConversationId(sender.id, receiver.id);
      const ack = await senderDevice.client.send({ to: receiver.id }, `${prefix} first ${i}`);
      this.acked.push({ conv, seq: ack.seq, body: `${prefix} first ${i}` });
      this.pairs.push({ sender, receiver, senderDevice, receiverDevice, conv });
    }
  }

  /**
   * Sends from every pair every `intervalMs` while `during` runs, then waits until every
   * message sent is acknowledged, because the SDK resends with the same id until it is.
   * Resolves with the number of messages acknowledged meanwhile.
   */
  async run(during: () => Promise<void>, intervalMs = 60): Promise<number> {
    const before = this.acked.length;
    let running = true;
    const senders = this.pairs.map(async (pair) => {
      const pending: Array<Promise<void>> = [];
      while (running) {
        const body = `steady ${this.#counter++}`;
        pending.push(
          pair.senderDevice.client.send({ conv: pair.conv }, body).then((ack) => {
            this.acked.push({ conv: ack.conv, seq: ack.seq, body });
          }),
        );
        await new Promise((resolveTick) => setTimeout(resolveTick, intervalMs));
      }
      await Promise.all(pending);
    });
    try {
      await during();
    } finally {
      running = false;
      await Promise.all(senders);
    }
    return this.acked.length - before;
  }

  /**
   * Returns what went wrong for one pair, or an empty list. Every acknowledged message must be
   * stored once, in sequence order, and no message that was not acknowledged may be stored.
   * The receiver's device must have shown each of them once, in the same order.
   */
  async findProblems(pair: Pair, timeoutMs = 60_000): Promise<string[]> {
    const expected = this.acked.filter((entry) => entry.conv === pair.conv);
    let stored: Array<{ seq: number; body: string }> = [];
    await waitFor(
      async () => {
        stored = await this.#readHistory(pair.sender, pair.conv);
        return stored.length >= expected.length;
      },
      `history of ${pair.conv} to hold ${expected.length} acknowledged messages`,
      timeoutMs,
    );
    const problems: string[] = [];
    const seqs = stored.map((message) => message.seq);
    if (new Set(seqs).size !== seqs.length)
      problems.push(`a sequence number is stored twice in ${pair.conv}`);
    if (seqs.some((seq, i) => i > 0 && seq < seqs[i - 1]!))
      problems.push(`history of ${pair.conv} is out of order`);
    if (new Set(stored.map((message) => message.body)).size !== stored.length) {
      problems.push(`a message is stored twice in ${pair.conv}`);
    }
    const bySeq = new Map(stored.map((message) => [message.seq, message.body]));
    const lost = expected.filter((entry) => bySeq.get(entry.seq) !== entry.body);
    if (lost.length > 0)
      problems.push(`acknowledged messages missing from ${pair.conv}: ${JSON.stringify(lost)}`);
    if (stored.length !== expected.length) {
      problems.push(`${pair.conv} stores ${stored.length} messages, ${expected.length} were acknowledged`);
    }

    await pair.receiverDevice.waitForMessages(pair.conv, expected.length, timeoutMs);
    const received = pair.receiverDevice.messages
      .filter((message) => message.conv === pair.conv)
      .map((message) => message.seq);
    if (JSON.stringify(received) !== JSON.stringify(seqs)) {
      problems.push(
        `${pair.receiver.username} received ${JSON.stringify(received)}, stored ${JSON.stringify(seqs)}`,
      );
    }
    return problems;
  }

  /** Closes every device. */
  async close(): Promise<void> {
    for (const pair of this.pairs) {
      await pair.senderDevice.client.close();
      await pair.receiverDevice.client.close();
    }
  }

  async #readHistory(user: TestUser, conv: string): Promise<Array<{ seq: number; body: string }>> {
    const all: Array<{ seq: number; body: string }> = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? 'limit=100&direction=newer' : `limit=100&cursor=${cursor}`;
      const response = await fetch(`${this.#cluster.apiUrl}/v1/conversations/${conv}/messages?${query}`, {
        headers: { authorization: `Bearer ${user.accessToken}` },
      });
      if (response.status !== 200)
        throw new Error(`history failed: ${response.status} ${await response.text()}`);
      const page = (await response.json()) as HistoryPage;
      all.push(...page.messages);
      cursor = page.nextCursor;
    } while (cursor !== null);
    return all;
  }
}
