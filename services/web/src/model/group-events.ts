import type { GroupEvent } from '@switchboard/protocol';

/**
 * Describes a group change in a sentence, as the system message in the chat shows it, with
 * "You" for the user. `nameOf` returns a user's display name.
 */
export function describeGroupEvent(
  event: GroupEvent,
  actor: string,
  me: string,
  nameOf: (userId: string) => string,
): string {
  const who = actor === me ? 'You' : nameOf(actor);
  const users = listNames(event.users.map((id) => (id === me ? 'you' : nameOf(id))));
  switch (event.action) {
    case 'created':
      return event.groupKind === 'channel'
        ? `${who} created the channel “${event.name ?? ''}”`
        : `${who} created the group “${event.name ?? ''}”`;
    case 'renamed':
      return `${who} renamed the group to “${event.name ?? ''}”`;
    case 'added':
      return `${who} added ${users}`;
    case 'removed':
      return `${who} removed ${users}`;
    case 'left':
      return `${users === 'you' ? 'You' : users} left`;
    case 'promoted':
      return `${who} made ${users} ${event.users.length === 1 ? 'an admin' : 'admins'}`;
  }
}

function listNames(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? 'nobody';
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)!}`;
}
