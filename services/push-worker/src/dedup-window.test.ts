import { describe, expect, it } from 'vitest';
import { DedupWindow } from './dedup-window.ts';

describe('DedupWindow', () => {
  it('forgets an id when its window passes', () => {
    let now = 1000;
    const window = new DedupWindow({ windowMs: 100, maxEntries: 10, now: () => now });
    window.add('a');
    expect(window.has('a')).toBe(true);
    now += 99;
    expect(window.has('a')).toBe(true);
    now += 1;
    expect(window.has('a')).toBe(false);
  });

  it('drops the oldest ids past the maximum', () => {
    const window = new DedupWindow({ windowMs: 60_000, maxEntries: 3 });
    for (const id of ['a', 'b', 'c', 'd']) window.add(id);
    expect(window.size).toBe(3);
    expect(window.has('a')).toBe(false);
    expect(window.has('d')).toBe(true);
  });

  it('removes expired ids when adding', () => {
    let now = 0;
    const window = new DedupWindow({ windowMs: 10, maxEntries: 100, now: () => now });
    for (let i = 0; i < 50; i++) window.add(`old-${i}`);
    now = 20;
    window.add('new');
    expect(window.size).toBe(1);
  });
});
