import type { GroupMember, GroupRole, StoredMessage, StreamEntry, UserRecord } from '@switchboard/core';
import type { GroupEvent, ReceiptKind } from '@switchboard/protocol';

export interface UserRow {
  id: string;
  username: string;
  display_name: string;
  password_hash: string;
  created_at: number;
}

export interface MessageRow {
  conv: string;
  seq: number;
  sender: string;
  client_id: string;
  body: string;
  ts: number;
  event: string | null;
  hidden_from: string | null;
}

export interface GroupMemberRow {
  user: string;
  role: GroupRole;
  joined_seq: number | null;
  left_seq: number | null;
}

/** A stream row joined with its message; the message columns are null for receipts. */
export interface StreamRow {
  pos: number;
  kind: 'message' | 'receipt';
  conv: string;
  seq: number;
  actor: string;
  receipt: ReceiptKind | null;
  ts: number;
  message_id: string | null;
  message_body: string | null;
  message_ts: number | null;
  message_event: string | null;
  message_hidden_from: string | null;
}

export function toUserRecord(row: UserRow): UserRecord {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
  };
}

export function toStoredMessage(row: MessageRow): StoredMessage {
  const message: StoredMessage = {
    conv: row.conv,
    seq: row.seq,
    from: row.sender,
    id: row.client_id,
    body: row.body,
    ts: row.ts,
  };
  return withExtras(message, row.event, row.hidden_from);
}

export function toGroupMember(row: GroupMemberRow): GroupMember {
  return { user: row.user, role: row.role, joinedSeq: row.joined_seq, leftSeq: row.left_seq };
}

/** Adds the optional event and hidden-from columns, leaving the fields out when they are NULL. */
function withExtras(message: StoredMessage, event: string | null, hiddenFrom: string | null): StoredMessage {
  if (event !== null) message.event = JSON.parse(event) as GroupEvent;
  if (hiddenFrom !== null) message.hiddenFrom = hiddenFrom;
  return message;
}

/** Builds a stream entry, or null for a message entry whose message row is missing. */
export function readStreamEntry(row: StreamRow): StreamEntry | null {
  if (row.kind === 'receipt') {
    return {
      pos: row.pos,
      kind: 'receipt',
      receipt: { conv: row.conv, user: row.actor, receipt: row.receipt!, seq: row.seq, ts: row.ts },
    };
  }
  if (row.message_id === null || row.message_body === null || row.message_ts === null) return null;
  const message: StoredMessage = {
    conv: row.conv,
    seq: row.seq,
    from: row.actor,
    id: row.message_id,
    body: row.message_body,
    ts: row.message_ts,
  };
  return {
    pos: row.pos,
    kind: 'message',
    message: withExtras(message, row.message_event, row.message_hidden_from),
  };
}
