import type { types } from 'cassandra-driver';
import type { GroupMember, GroupRole, StoredMessage, StreamEntry, UserRecord } from '@switchboard/core';
import type { GroupEvent, ReceiptKind } from '@switchboard/protocol';

/** Reads a bigint column (a driver Long), or 0 when the cell is null. */
export function readLong(value: unknown): number {
  if (value === null || value === undefined) return 0;
  return (value as types.Long).toNumber();
}

/** Reads a timestamp column as milliseconds since the epoch, or 0 when the cell is null. */
export function readTime(value: unknown): number {
  if (value === null || value === undefined) return 0;
  return (value as Date).getTime();
}

export function toUserRecord(row: types.Row): UserRecord {
  return {
    id: row['id'] as string,
    username: row['username'] as string,
    displayName: row['display_name'] as string,
    passwordHash: row['password_hash'] as string,
    createdAt: readTime(row['created_at']),
  };
}

/** Builds a message from a row with the columns seq, sender, client_id, body, ts, event and hidden_from. */
export function toStoredMessage(conv: string, row: types.Row): StoredMessage {
  const message: StoredMessage = {
    conv,
    seq: readLong(row['seq']),
    from: row['sender'] as string,
    id: row['client_id'] as string,
    body: row['body'] as string,
    ts: readTime(row['ts']),
  };
  return withExtras(message, row['event'], row['hidden_from']);
}

/** Adds the optional event and hidden-from columns, leaving the fields out when they are null. */
export function withExtras(message: StoredMessage, event: unknown, hiddenFrom: unknown): StoredMessage {
  if (typeof event === 'string') message.event = JSON.parse(event) as GroupEvent;
  if (typeof hiddenFrom === 'string') message.hiddenFrom = hiddenFrom;
  return message;
}

/** Stored value of `joined_seq` while an addition to a group is in flight. */
export const JOIN_IN_FLIGHT = -1;

/** Builds a member from a row with the columns user_id, role, joined_seq and left_seq. */
export function toGroupMember(row: types.Row): GroupMember {
  const joined = readLong(row['joined_seq']);
  const left = row['left_seq'];
  return {
    user: row['user_id'] as string,
    role: (row['role'] as GroupRole | null) ?? 'member',
    joinedSeq: joined === JOIN_IN_FLIGHT ? null : joined,
    leftSeq: left === null || left === undefined ? null : readLong(left),
  };
}

/** True for a member row of a current member: not left, and not an addition in flight. */
export function isCurrentMember(row: types.Row): boolean {
  const left = row['left_seq'];
  return (left === null || left === undefined) && readLong(row['joined_seq']) !== JOIN_IN_FLIGHT;
}

/** A stream row. A message entry still needs its message row for the client id and body. */
export interface StreamRow {
  pos: number;
  kind: 'message' | 'receipt';
  conv: string;
  seq: number;
  actor: string;
  receipt: ReceiptKind | null;
  ts: number;
}

export function toStreamRow(row: types.Row): StreamRow {
  return {
    pos: readLong(row['pos']),
    kind: row['kind'] as StreamRow['kind'],
    conv: row['conv'] as string,
    seq: readLong(row['seq']),
    actor: row['actor'] as string,
    receipt: (row['receipt'] as ReceiptKind | null) ?? null,
    ts: readTime(row['ts']),
  };
}

/**
 * Builds a stream entry, or null for a message entry whose message row is missing.
 *
 * `messages` contains the message rows of the page, keyed by `conv` and `seq` joined with a NUL.
 */
export function toStreamEntry(row: StreamRow, messages: Map<string, StoredMessage>): StreamEntry | null {
  if (row.kind === 'receipt') {
    return {
      pos: row.pos,
      kind: 'receipt',
      receipt: { conv: row.conv, user: row.actor, receipt: row.receipt!, seq: row.seq, ts: row.ts },
    };
  }
  const message = messages.get(messageKey(row.conv, row.seq));
  return message === undefined ? null : { pos: row.pos, kind: 'message', message };
}

export function messageKey(conv: string, seq: number): string {
  return `${conv}\u0000${seq}`;
}
