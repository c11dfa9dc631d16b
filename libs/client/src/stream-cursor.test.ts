import { describe, expect, it } from 'vitest';
import { StreamCursor } from './stream-cursor.ts';

describe('StreamCursor', () => {
  it('ignores positions before it has a start', () => {
    const cursor = new StreamCursor();
    cursor.observe(5);
    expect(cursor.position).toBeNull();
    expect(cursor.hasGap).toBe(false);
  });

  it('advances on the next position', () => {
    const cursor = new StreamCursor(10);
    cursor.observe(11);
    cursor.observe(11);
    cursor.observe(9);
    expect(cursor.position).toBe(11);
    expect(cursor.hasGap).toBe(false);
  });

  it('opens a gap on a jump and closes it when the hole fills', () => {
    const cursor = new StreamCursor(10);
    cursor.observe(13);
    cursor.observe(12);
    expect(cursor.position).toBe(10);
    expect(cursor.hasGap).toBe(true);

    cursor.observe(11);
    expect(cursor.position).toBe(13);
    expect(cursor.hasGap).toBe(false);
  });

  it('jumps to a sync head and keeps positions beyond it', () => {
    const cursor = new StreamCursor(10);
    cursor.observe(15);
    cursor.observe(20);
    cursor.advanceTo(14);
    expect(cursor.position).toBe(15);
    expect(cursor.hasGap).toBe(true);

    cursor.advanceTo(25);
    expect(cursor.position).toBe(25);
    expect(cursor.hasGap).toBe(false);
  });

  it('never moves back', () => {
    const cursor = new StreamCursor(10);
    cursor.advanceTo(4);
    expect(cursor.position).toBe(10);
  });

  it('starts at the welcome head of a new device', () => {
    const cursor = new StreamCursor(null);
    cursor.advanceTo(118);
    cursor.observe(119);
    expect(cursor.position).toBe(119);
  });
});
