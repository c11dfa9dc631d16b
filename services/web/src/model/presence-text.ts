import type { PresenceEntry } from '@switchboard/protocol';
import { formatDayLabel, formatTime } from './timeline.ts';

/**
 * Describes a user's presence for a chat header: "Online", "Last seen today at 14:02",
 * "Last seen Monday at 09:15", or "Offline" when the server sent no `lastSeen` (never recorded,
 * or hidden because the user blocks the viewer). Returns null while presence is unknown.
 */
export function describePresence(entry: PresenceEntry | undefined, now = new Date()): string | null {
  if (entry === undefined) return null;
  if (entry.online) return 'Online';
  if (entry.lastSeen === undefined) return 'Offline';
  const seen = new Date(entry.lastSeen);
  const label = formatDayLabel(seen, now);
  const day = label === 'Today' || label === 'Yesterday' ? label.toLowerCase() : label;
  return `Last seen ${day} at ${formatTime(entry.lastSeen)}`;
}
