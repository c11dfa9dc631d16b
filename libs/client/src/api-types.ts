import type { ConversationKind, GroupEvent, GroupKind } from '@switchboard/protocol';

/** A user as the API shows it to others. */
export interface User {
  id: string;
  username: string;
  displayName: string;
}

/** Tokens of a logged-in user. `user` is absent when a session was restored from tokens alone. */
export interface Session {
  user?: User;
  accessToken: string;
  refreshToken: string;
  /** Lifetime of the access token in seconds, when the server reported it. */
  expiresIn?: number;
}

/** Response of register, login and refresh. */
export interface AuthResponse {
  user: User;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

/** Response of `GET /v1/route`: the chat node that owns the user. */
export interface RouteResponse {
  node: string;
  /** WebSocket URL of the node, without the access token. */
  url: string;
  ringVersion: string;
}

/** A stored message, as history pages and conversation summaries return it. */
export interface HistoryMessage {
  conv: string;
  seq: number;
  from: string;
  /** Client message id. */
  id: string;
  body: string;
  ts: number;
  /** Present on system messages: the group change they record. */
  event?: GroupEvent;
}

/** A member of a conversation with their delivered and read watermarks. */
export interface ConversationMember extends User {
  /** Every message up to this number reached the member. */
  deliveredSeq: number;
  /** The member has read every message up to this number. */
  readSeq: number;
}

/** A row of the caller's conversation list. */
export interface ConversationSummary {
  id: string;
  kind: ConversationKind;
  members: ConversationMember[];
  lastMessage: HistoryMessage | null;
  /** Messages from other members after the caller's read watermark. */
  unread: number;
  /** Name and kind of a group; absent for one-to-one conversations. */
  group?: { name: string; kind: GroupKind };
}

/** A current member of a group. */
export interface GroupMemberInfo {
  user: string;
  role: 'admin' | 'member';
  /** First sequence number the member may read: 0 for founders, else the event that added them. */
  joinedSeq: number;
}

/** A group as its members see it. */
export interface GroupInfo {
  /** Group id; the conversation id is `conv`, `g.<id>`. */
  id: string;
  conv: string;
  /** In a `channel` only admins post. */
  kind: GroupKind;
  name: string;
  createdBy: string;
  createdAt: number;
  memberCount: number;
  /** Current members in user id order; the API lists at most 1,000. */
  members: GroupMemberInfo[];
}

/** Options of `createGroup`. */
export interface CreateGroupOptions {
  /** `group` (the default) or `channel`, where only admins post. */
  kind?: GroupKind;
  /** Founding members besides the caller, who becomes the first admin. */
  members?: string[];
}

/** Options of a history page request. */
export interface HistoryOptions {
  /** `nextCursor` of the previous page; absent for the first page. */
  cursor?: string;
  /** Page size; the server applies its default (20) and maximum. */
  limit?: number;
  /** `older` walks back from the newest message (the default), `newer` walks forward. */
  direction?: 'older' | 'newer';
}

/** One page of history. `nextCursor` is null on the last page. */
export interface HistoryPage {
  messages: HistoryMessage[];
  nextCursor: string | null;
}
