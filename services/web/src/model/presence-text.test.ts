import { describe, expect, it } from 'vitest';
import { describePresence } from './presence-text.ts';
import { formatTime } from './timeline.ts';

describe('describePresence', () => {
  const now = new Date(2026, 11, 4, 15, 0);

  it('returns null while presence is unknown', () => {
    expect(describePresence(undefined, now)).toBeNull();
  });

  it('describes online and offline without a time', () => {
    expect(describePresence({ user: 'u_b', online: true }, now)).toBe('Online');
    expect(describePresence({ user: 'u_b', online: false }, now)).toBe('Offline');
  });

  it('names today and yesterday in lower case', () => {
    const today = new Date(2026, 11, 4, 9, 30).getTime();
    const yesterday = new Date(2026, 11, 3, 22, 5).getTime();
    expect(describePresence({ user: 'u_b', online: false, lastSeen: today }, now)).toBe(
      `Last seen today at ${formatTime(today)}`,
    );
    expect(describePresence({ user: 'u_b', online: false, lastSeen: yesterday }, now)).toBe(
      `Last seen yesterday at ${formatTime(yesterday)}`,
    );
  });
});
