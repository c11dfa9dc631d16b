import type { MessageFrame } from '@switchboard/protocol';
import { describe, expect, it } from 'vitest';
import { OrderingBuffer } from './ordering-buffer.ts';

const CONV = 'd.alice.bob';

function message(seq: number, conv = CONV): MessageFrame {
  return { type: 'message', conv, seq, from: 'bob', id: `m${seq}`, body: `body ${seq}`, ts: 1000 + seq };
}

function seqs(messages: MessageFrame[]): number[] {
  return messages.map((m) => m.seq);
}

describe('OrderingBuffer', () => {
  it('releases in-order messages at once', () => {
    const buffer = new OrderingBuffer({ [CONV]: 3 });
    expect(seqs(buffer.push(message(4)))).toEqual([4]);
    expect(seqs(buffer.push(message(5)))).toEqual([5]);
    expect(buffer.lastSeq(CONV)).toBe(5);
    expect(buffer.gap(CONV)).toBeNull();
  });

  it('drops duplicates at or below lastSeq', () => {
    const buffer = new OrderingBuffer({ [CONV]: 3 });
    expect(buffer.push(message(3))).toEqual([]);
    expect(buffer.push(message(1))).toEqual([]);
    expect(seqs(buffer.push(message(4)))).toEqual([4]);
    expect(buffer.push(message(4))).toEqual([]);
    expect(buffer.lastSeq(CONV)).toBe(4);
  });

  it('holds messages after a gap until it is filled', () => {
    const buffer = new OrderingBuffer({ [CONV]: 3 });
    expect(buffer.push(message(6))).toEqual([]);
    expect(buffer.push(message(7))).toEqual([]);
    expect(buffer.gap(CONV)).toEqual({ conv: CONV, from: 4, to: 5 });

    expect(seqs(buffer.push(message(4)))).toEqual([4]);
    expect(buffer.gap(CONV)).toEqual({ conv: CONV, from: 5, to: 5 });
    expect(seqs(buffer.push(message(5)))).toEqual([5, 6, 7]);
    expect(buffer.gap(CONV)).toBeNull();
    expect(buffer.lastSeq(CONV)).toBe(7);
  });

  it('skips numbers reported missing and releases what follows', () => {
    const buffer = new OrderingBuffer({ [CONV]: 3 });
    buffer.push(message(6));
    expect(seqs(buffer.skip(CONV, [4, 5]))).toEqual([6]);
    expect(buffer.lastSeq(CONV)).toBe(6);
    expect(buffer.gap(CONV)).toBeNull();
  });

  it('releases a late message at a number reported missing, once', () => {
    const buffer = new OrderingBuffer({ [CONV]: 3 });
    buffer.push(message(6));
    buffer.skip(CONV, [4, 5]);
    expect(seqs(buffer.push(message(5)))).toEqual([5]);
    expect(seqs(buffer.push(message(5)))).toEqual([]);
    expect(seqs(buffer.push(message(3)))).toEqual([]);
    expect(buffer.lastSeq(CONV)).toBe(6);
  });

  it('fills a gap with messages and missing numbers', () => {
    const buffer = new OrderingBuffer({ [CONV]: 3 });
    buffer.push(message(7));
    expect(seqs(buffer.push(message(5)))).toEqual([]);
    expect(seqs(buffer.skip(CONV, [4, 6]))).toEqual([5, 7]);
    expect(buffer.lastSeq(CONV)).toBe(7);
  });

  it('remembers missing numbers ahead of lastSeq', () => {
    const buffer = new OrderingBuffer({ [CONV]: 3 });
    buffer.push(message(6));
    expect(buffer.skip(CONV, [5])).toEqual([]);
    expect(seqs(buffer.push(message(4)))).toEqual([4, 6]);
  });

  it('ignores missing numbers at or below lastSeq', () => {
    const buffer = new OrderingBuffer({ [CONV]: 3 });
    expect(buffer.skip(CONV, [2, 3])).toEqual([]);
    expect(buffer.lastSeq(CONV)).toBe(3);
  });

  it('starts an unknown conversation at the first message seen', () => {
    const buffer = new OrderingBuffer();
    expect(buffer.lastSeq(CONV)).toBeUndefined();
    expect(seqs(buffer.push(message(42)))).toEqual([42]);
    expect(buffer.lastSeq(CONV)).toBe(42);
    expect(buffer.push(message(41))).toEqual([]);
    expect(seqs(buffer.push(message(43)))).toEqual([43]);
  });

  it('ignores missing numbers of an unknown conversation', () => {
    const buffer = new OrderingBuffer();
    expect(buffer.skip(CONV, [1, 2])).toEqual([]);
    expect(buffer.lastSeq(CONV)).toBeUndefined();
  });

  it('keeps conversations apart', () => {
    const buffer = new OrderingBuffer({ [CONV]: 1, 'g.team': 10 });
    expect(buffer.push(message(3))).toEqual([]);
    expect(seqs(buffer.push(message(11, 'g.team')))).toEqual([11]);
    expect(buffer.gaps()).toEqual([{ conv: CONV, from: 2, to: 2 }]);
  });

  it('restores from its snapshot and held-back messages', () => {
    const first = new OrderingBuffer({ [CONV]: 3 });
    first.push(message(5));
    const second = new OrderingBuffer(first.snapshot());
    for (const held of first.heldBack()) second.push(held);

    expect(second.snapshot()).toEqual({ [CONV]: 3 });
    expect(second.gap(CONV)).toEqual({ conv: CONV, from: 4, to: 4 });
    expect(seqs(second.push(message(4)))).toEqual([4, 5]);
  });
});
