import type { MessageRecord, ReceiptRecord, StreamTarget } from '../ports/index.ts';
import type { ReceiptKind } from '@switchboard/protocol';

/** Builds a message record; the client id, body and time derive from `seq` unless given. */
export function buildMessage(
  conv: string,
  seq: number,
  from: string,
  targets: StreamTarget[] = [],
  overrides: Partial<MessageRecord> = {},
): MessageRecord {
  return {
    kind: 'message',
    conv,
    seq,
    from,
    id: `m-${seq}`,
    body: `message ${seq}`,
    ts: 1_700_000_000_000 + seq,
    targets,
    ...overrides,
  };
}

/** Builds a receipt record that moves `user`'s `receipt` watermark in `conv` to `seq`. */
export function buildReceipt(
  conv: string,
  user: string,
  receipt: ReceiptKind,
  seq: number,
  targets: StreamTarget[] = [],
): ReceiptRecord {
  return { kind: 'receipt', conv, user, receipt, seq, ts: 1_700_000_100_000 + seq, targets };
}
