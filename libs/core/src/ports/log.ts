import type { GroupEvent, ReceiptKind } from '@switchboard/protocol';

/** A member's sync stream position assigned to one record. */
export interface StreamTarget {
  user: string;
  pos: number;
}

/** An accepted message, as appended to the durable log. */
export interface MessageRecord {
  kind: 'message';
  conv: string;
  seq: number;
  from: string;
  /** Client message id. */
  id: string;
  body: string;
  /** Accept time in milliseconds since the epoch. */
  ts: number;
  targets: StreamTarget[];
  /** The group change that this system message records; its body is empty. */
  event?: GroupEvent;
  /** A user who blocked the sender of this one-to-one message and must never see it. */
  hiddenFrom?: string;
}

/** A delivered or read watermark that moved forward. */
export interface ReceiptRecord {
  kind: 'receipt';
  conv: string;
  user: string;
  receipt: ReceiptKind;
  seq: number;
  ts: number;
  targets: StreamTarget[];
}

export type LogRecord = MessageRecord | ReceiptRecord;

/** A running consumer; `stop` waits for the batch in progress to commit. */
export interface LogConsumer {
  stop(): Promise<void>;
}

/**
 * The durable, ordered log of accepted records, or of other records such as push jobs
 * (`DurableLog<PushJob>`), each kind in a log of its own.
 *
 * Records of one conversation keep their append order. A consumer sees every record at
 * least once: its offsets are committed only after its handler resolves, so a crash
 * replays the uncommitted tail and consumers key records by (conversation, sequence number).
 */
export interface DurableLog<R = LogRecord> {
  /** Appends records; resolves only when they are durable. Rejects without partial effect per record. */
  append(records: R[]): Promise<void>;
  /** Starts a consumer in `group` that receives batches in order and commits after each one. */
  consume(group: string, handler: (records: R[]) => Promise<void>): Promise<LogConsumer>;
  /**
   * Waits until `group` has committed everything appended before this call.
   *
   * Returns false when `timeoutMs` passes first.
   */
  awaitConsumed(group: string, timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}
