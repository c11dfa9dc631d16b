/** A message as the chat view lays it out: only what the timeline needs. */
export interface TimedItem {
  key: string;
  ts: number;
}

/** An entry of the chat timeline: a day separator or a message. */
export type TimelineEntry<T extends TimedItem> =
  { kind: 'day'; key: string; label: string; dateTime: string } | { kind: 'message'; key: string; item: T };

/**
 * Builds the chat timeline: the messages in the order given, with a day separator before
 * the first message of each local calendar day.
 */
export function buildTimeline<T extends TimedItem>(items: readonly T[], now: Date): Array<TimelineEntry<T>> {
  const entries: Array<TimelineEntry<T>> = [];
  let currentDay: string | null = null;
  for (const item of items) {
    const date = new Date(item.ts);
    const day = localDayKey(date);
    if (day !== currentDay) {
      currentDay = day;
      entries.push({ kind: 'day', key: `day-${day}`, label: formatDayLabel(date, now), dateTime: day });
    }
    entries.push({ kind: 'message', key: item.key, item });
  }
  return entries;
}

/** Returns the local calendar day of a date as `YYYY-MM-DD`. */
export function localDayKey(date: Date): string {
  const month = String(date.getMonth() + 1).padStart(2, '0');
  const day = String(date.getDate()).padStart(2, '0');
  return `${date.getFullYear()}-${month}-${day}`;
}

/** Formats a day separator: "Today", "Yesterday", or the date in the browser's locale. */
export function formatDayLabel(date: Date, now: Date): string {
  const today = localDayKey(now);
  if (localDayKey(date) === today) return 'Today';
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (localDayKey(date) === localDayKey(yesterday)) return 'Yesterday';
  const sameYear = date.getFullYear() === now.getFullYear();
  return date.toLocaleDateString(undefined, {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    ...(sameYear ? {} : { year: 'numeric' }),
  });
}

/** Formats the local time of a message, for example "14:05" or "2:05 PM" by locale. */
export function formatTime(ts: number): string {
  return new Date(ts).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}
