/** User ids, client message ids and group ids: 1 to 64 characters of A-Z, a-z, 0-9, `_` and `-`. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Conversation ids: `d.<user>.<user>` for one-to-one, `g.<id>` for groups. */
export const CONVERSATION_PATTERN =
  /^(?:d\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}|g\.[A-Za-z0-9_-]{1,64})$/;

export type ConversationKind = 'direct' | 'group';

/** Checks that a string is a well-formed user, message or group id. */
export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** Checks that a string is a well-formed conversation id. */
export function isConversationId(value: unknown): value is string {
  return typeof value === 'string' && CONVERSATION_PATTERN.test(value);
}

/**
 * Builds the id of the one-to-one conversation between two users.
 *
 * The ids are sorted, so both members compute the same conversation id.
 */
export function buildDirectConversationId(userA: string, userB: string): string {
  return userA < userB ? `d.${userA}.${userB}` : `d.${userB}.${userA}`;
}

/** Returns the kind of a conversation from its id. */
export function conversationKind(conversationId: string): ConversationKind {
  return conversationId.startsWith('g.') ? 'group' : 'direct';
}

/** Returns the two members of a one-to-one conversation, or null for a group id. */
export function directMembers(conversationId: string): [string, string] | null {
  if (!conversationId.startsWith('d.')) return null;
  const parts = conversationId.split('.');
  if (parts.length !== 3) return null;
  return [parts[1]!, parts[2]!];
}
