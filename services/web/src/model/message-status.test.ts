import { describe, expect, it } from 'vitest';
import { computeStatus } from './message-status.ts';

describe('computeStatus', () => {
  it.each([
    { seq: 5, others: [{ deliveredSeq: 4, readSeq: 0 }], expected: 'sent' },
    { seq: 5, others: [{ deliveredSeq: 5, readSeq: 0 }], expected: 'delivered' },
    { seq: 5, others: [{ deliveredSeq: 9, readSeq: 4 }], expected: 'delivered' },
    { seq: 5, others: [{ deliveredSeq: 5, readSeq: 5 }], expected: 'read' },
    { seq: 5, others: [{ deliveredSeq: 0, readSeq: 7 }], expected: 'read' },
    { seq: 5, others: [], expected: 'sent' },
  ])('returns $expected for seq $seq and watermarks $others', ({ seq, others, expected }) => {
    expect(computeStatus(seq, others)).toBe(expected);
  });

  it('waits for every member of a group', () => {
    const others = [
      { deliveredSeq: 5, readSeq: 5 },
      { deliveredSeq: 5, readSeq: 2 },
      { deliveredSeq: 3, readSeq: 0 },
    ];
    expect(computeStatus(5, others)).toBe('sent');
    expect(computeStatus(3, others)).toBe('delivered');
    expect(computeStatus(2, others.slice(0, 2))).toBe('read');
  });
});
