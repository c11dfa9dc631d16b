import type { ConversationKind, GroupEvent, GroupKind } from '@switchboard/protocol';
import type { MessageStatus } from './message-status.ts';

/** A member of a conversation as the views show it, with the member's watermarks. */
export interface MemberView {
  id: string;
  username: string;
  displayName: string;
  deliveredSeq: number;
  readSeq: number;
}

/** A message as the views show it: stored (with `seq`) or still in the outbox (`seq` null). */
export interface MessageView {
  /** Stable React key: the client message id, which stays the same when the ack arrives. */
  key: string;
  id: string;
  conv: string;
  seq: number | null;
  from: string;
  body: string;
  ts: number;
  /** Status ticks of the user's own messages; null for messages from others. */
  status: MessageStatus | null;
  /** Reason the node rejected the message, when `status` is `failed`. */
  failure: string | null;
  /** The group change that a system message records, or null for messages that users wrote. */
  event: GroupEvent | null;
}

/** A group conversation's name, kind and, once loaded, its admins. */
export interface GroupView {
  name: string;
  kind: GroupKind;
  /** Members in total, which may be more than the member list contains. */
  memberCount: number;
  /** Ids of the admins from the last group read, empty until one loaded. */
  admins: string[];
  /** True once the group was read from the API, so `admins` is known. */
  detailsLoaded: boolean;
  /** True above the cluster's large-group size: its messages are pulled and typing is off. */
  large: boolean;
  /** True when the user left or was removed, which makes the group read-only. */
  left: boolean;
}

/**
 * A row of the conversation list: a one-to-one conversation (`kind` `direct`, with `peer`) or
 * a group (`kind` `group`, with `group` and `peer` null).
 */
export interface ConversationView {
  id: string;
  kind: ConversationKind;
  title: string;
  members: MemberView[];
  /** The other member of a one-to-one conversation. */
  peer: MemberView | null;
  /** Name, kind and admins of a group, or null for one-to-one conversations. */
  group: GroupView | null;
  lastMessage: MessageView | null;
  unread: number;
  /** Time of the latest activity, for ordering the list. */
  activityTs: number;
}

/** The messages of one conversation and the state of its history paging. */
export interface ThreadView {
  conv: string;
  /** Stored messages by increasing `seq`, then outbox messages in send order. */
  messages: MessageView[];
  /** True when the history API has older pages than the ones loaded. */
  hasOlder: boolean;
  loadingOlder: boolean;
  /** True once the newest page has been loaded. */
  loaded: boolean;
  /** Message of the last failed history request, or null. */
  error: string | null;
}

/**
 * Builds the title of a conversation: the peer's display name, or the group's name, else the
 * names of a group's members.
 */
export function buildTitle(
  kind: ConversationKind,
  others: readonly MemberView[],
  groupName?: string,
): string {
  if (groupName !== undefined && groupName !== '') return groupName;
  if (others.length === 0) return kind === 'group' ? 'Group' : 'Unknown user';
  if (kind === 'direct') return others[0]!.displayName || others[0]!.username;
  return others.map((member) => member.displayName || member.username).join(', ');
}
