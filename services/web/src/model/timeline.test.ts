import { describe, expect, it } from 'vitest';
import { buildTimeline, formatDayLabel, localDayKey } from './timeline.ts';

// Dates are built from local fields, so the tests hold in every time zone.
const now = new Date(2026, 4, 14, 12, 0);

describe('buildTimeline', () => {
  it('puts a separator before the first message of each local day', () => {
    const items = [
      { key: 'a', ts: new Date(2026, 4, 12, 23, 59).getTime() },
      { key: 'b', ts: new Date(2026, 4, 13, 0, 1).getTime() },
      { key: 'c', ts: new Date(2026, 4, 13, 8, 0).getTime() },
      { key: 'd', ts: new Date(2026, 4, 14, 9, 30).getTime() },
    ];
    const timeline = buildTimeline(items, now);
    expect(timeline.map((entry) => (entry.kind === 'day' ? entry.label : entry.key))).toEqual([
      formatDayLabel(new Date(2026, 4, 12), now),
      'a',
      'Yesterday',
      'b',
      'c',
      'Today',
      'd',
    ]);
  });

  it('returns nothing for no messages', () => {
    expect(buildTimeline([], now)).toEqual([]);
  });
});

describe('formatDayLabel', () => {
  it('names today and yesterday', () => {
    expect(formatDayLabel(new Date(2026, 4, 14, 0, 0), now)).toBe('Today');
    expect(formatDayLabel(new Date(2026, 4, 13, 23, 59), now)).toBe('Yesterday');
  });

  it('adds the year only for another year', () => {
    expect(formatDayLabel(new Date(2026, 0, 2), now)).not.toContain('2026');
    expect(formatDayLabel(new Date(2025, 11, 31), now)).toContain('2025');
  });

  it('handles yesterday across a month boundary', () => {
    expect(formatDayLabel(new Date(2026, 4, 31, 22, 0), new Date(2026, 5, 1, 1, 0))).toBe('Yesterday');
  });
});

describe('localDayKey', () => {
  it('pads month and day', () => {
    expect(localDayKey(new Date(2026, 0, 5, 13, 0))).toBe('2026-01-05');
  });
});
