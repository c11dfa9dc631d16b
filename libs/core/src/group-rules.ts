import type { GroupKind } from '@switchboard/protocol';
import { readInt, type Env } from './config.ts';
import type { GroupMember } from './ports/store.ts';

/** Member count above which a group's bodies are not pushed and its members pull them. */
export const DEFAULT_LARGE_GROUP_THRESHOLD = 1000;

/** Reads SWB_LARGE_GROUP_THRESHOLD, the member count above which a group is large. */
export function readLargeGroupThreshold(env: Env): number {
  return readInt(env, 'SWB_LARGE_GROUP_THRESHOLD', DEFAULT_LARGE_GROUP_THRESHOLD, { min: 1 });
}

/** A group as the message path uses it: its kind, size class and every member row. */
export interface GroupView {
  conv: string;
  kind: GroupKind;
  name: string;
  /** Version of the member rows this view was built from. */
  version: string;
  /** True above the large group threshold: members get notices and pull the messages. */
  large: boolean;
  /** Every member row, former members included, by user id. */
  members: ReadonlyMap<string, GroupMember>;
  /** Current members, in user id order. */
  current: readonly string[];
}

/** True while the user is a member: not left, and not an addition still in flight. */
export function isCurrentMember(member: GroupMember | null | undefined): boolean {
  return member != null && member.leftSeq === null && member.joinedSeq !== null;
}

/**
 * True when the message at `seq` belongs to `member`: it came after the event that added
 * them and before the one that removed them. A change still in flight counts against them.
 */
export function receivesAt(member: GroupMember | null | undefined, seq: number): boolean {
  if (member == null || member.joinedSeq === null || member.joinedSeq >= seq) return false;
  return member.leftSeq === null || member.leftSeq > seq;
}

/**
 * Returns the sequence numbers a user may read: from the event that added them on, and for a
 * former member up to the event that removed them. Null when they may read nothing.
 */
export function readableRange(member: GroupMember | null | undefined): { from: number; to: number } | null {
  if (member == null || member.joinedSeq === null) return null;
  const to = member.leftSeq === null ? Number.MAX_SAFE_INTEGER : member.leftSeq;
  if (to < member.joinedSeq || to === 0) return null;
  return { from: member.joinedSeq, to };
}

/** True when `seq` lies in the range that `member` may read. */
export function isReadableAt(member: GroupMember | null | undefined, seq: number): boolean {
  const range = readableRange(member);
  return range !== null && seq >= range.from && seq <= range.to;
}

/** Builds the view of a group from its record fields and member rows. */
export function buildGroupView(
  group: { conv: string; kind: GroupKind; name: string; version: string },
  members: readonly GroupMember[],
  largeGroupThreshold: number,
): GroupView {
  const byUser = new Map(members.map((member) => [member.user, member]));
  const current = members
    .filter((member) => isCurrentMember(member))
    .map((member) => member.user)
    .sort();
  return {
    conv: group.conv,
    kind: group.kind,
    name: group.name,
    version: group.version,
    large: current.length > largeGroupThreshold,
    members: byUser,
    current,
  };
}
