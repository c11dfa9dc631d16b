import {
  MemoryStateStore,
  SwitchboardClient,
  type MembershipEvent,
  type TypingEvent,
} from '@switchboard/client';
import type {
  ErrorFrame,
  MessageFrame,
  NoticeFrame,
  PresenceEntry,
  ReceiptFrame,
} from '@switchboard/protocol';
import type { TestCluster, TestUser } from './cluster.ts';
import { waitFor } from './cluster.ts';

/** An SDK client that records what it emitted, standing for one device. */
export interface Device {
  client: SwitchboardClient;
  state: MemoryStateStore;
  messages: MessageFrame[];
  receipts: ReceiptFrame[];
  memberships: MembershipEvent[];
  notices: NoticeFrame[];
  presence: PresenceEntry[];
  typing: TypingEvent[];
  /** Error frames from the node; errors the client handled itself are left out. */
  errors: ErrorFrame[];
  /** Waits until the device has emitted at least `count` messages of `conv`. */
  waitForMessages(conv: string, count: number, timeoutMs?: number): Promise<MessageFrame[]>;
  /** Waits for a receipt by `user` of `kind` at or above `seq`. */
  waitForReceipt(user: string, kind: 'delivered' | 'read', seq: number, timeoutMs?: number): Promise<void>;
}

/**
 * Creates a device of `user` and connects it.
 *
 * Passing the `state` of an earlier device makes this one a restart of that device: it
 * resumes from the saved sync position.
 */
export async function connectDevice(
  cluster: TestCluster,
  user: TestUser,
  state = new MemoryStateStore(),
): Promise<Device> {
  const client = new SwitchboardClient({
    apiUrl: cluster.apiUrl,
    routerUrl: cluster.routerUrl,
    state,
    reconnect: { baseMs: 50, maxMs: 500 },
  });
  client.useSession({ accessToken: user.accessToken, refreshToken: user.refreshToken });
  const device: Device = {
    client,
    state,
    messages: [],
    receipts: [],
    memberships: [],
    notices: [],
    presence: [],
    typing: [],
    errors: [],
    async waitForMessages(conv, count, timeoutMs = 10_000) {
      const of = () => device.messages.filter((message) => message.conv === conv);
      await waitFor(
        () => of().length >= count,
        `${user.username} to receive ${count} messages in ${conv}, has ${of().length}`,
        timeoutMs,
      );
      return of();
    },
    async waitForReceipt(by, kind, seq, timeoutMs = 10_000) {
      await waitFor(
        () =>
          device.receipts.some(
            (receipt) => receipt.user === by && receipt.kind === kind && receipt.seq >= seq,
          ),
        `${user.username} to see a ${kind} receipt up to ${seq}`,
        timeoutMs,
      );
    },
  };
  client.on('message', (message) => device.messages.push(message));
  client.on('receipt', (receipt) => device.receipts.push(receipt));
  client.on('membership', (event) => device.memberships.push(event));
  client.on('notice', (notice) => device.notices.push(notice));
  client.on('presence', (entry) => device.presence.push(entry));
  client.on('typing', (event) => device.typing.push(event));
  client.on('error', (error) => {
    if (!(error instanceof Error)) device.errors.push(error);
  });
  client.on('session', (session) => {
    user.accessToken = session.accessToken;
    user.refreshToken = session.refreshToken;
  });
  await client.connect();
  return device;
}
