import { describe, expect, it } from 'vitest';
import { Outbox, type OutboxEntry } from './outbox.ts';

function entry(id: string): OutboxEntry {
  return { id, target: { to: 'bob' }, body: `body of ${id}`, createdAt: 1 };
}

describe('Outbox', () => {
  it('makes a new entry due at once', () => {
    const outbox = new Outbox();
    outbox.add(entry('a'));
    expect(outbox.due(1000, 500).map((e) => e.id)).toEqual(['a']);
  });

  it('resends with the same id after the timeout', () => {
    const outbox = new Outbox();
    outbox.add(entry('a'));
    outbox.markSent('a', 1000);
    expect(outbox.due(1499, 500)).toEqual([]);
    const due = outbox.due(1500, 500);
    expect(due).toHaveLength(1);
    expect(due[0]).toEqual(entry('a'));
  });

  it('makes a rejected entry due after a backoff that doubles', () => {
    const outbox = new Outbox();
    outbox.add(entry('a'));
    outbox.markSent('a', 1000);
    expect(outbox.retryLater('a', 1000, 250, 10_000)).toBe(250);
    expect(outbox.due(1249, 10_000)).toEqual([]);
    expect(outbox.due(1250, 10_000).map((e) => e.id)).toEqual(['a']);

    outbox.markSent('a', 1250);
    expect(outbox.due(1500, 10_000)).toEqual([]);
    expect(outbox.retryLater('a', 1300, 250, 10_000)).toBe(500);
    expect(outbox.retryLater('a', 1300, 250, 600)).toBe(600);
    expect(outbox.retryLater('missing', 1300, 250, 600)).toBeNull();
  });

  it('resends every entry after a reconnect', () => {
    const outbox = new Outbox();
    outbox.add(entry('a'));
    outbox.add(entry('b'));
    outbox.markSent('a', 1000);
    outbox.markSent('b', 1000);
    outbox.markAllUnsent();
    expect(outbox.due(1001, 500).map((e) => e.id)).toEqual(['a', 'b']);
  });

  it('removes an entry on its ack', () => {
    const outbox = new Outbox();
    outbox.add(entry('a'));
    outbox.add(entry('b'));
    expect(outbox.remove('a')).toEqual(entry('a'));
    expect(outbox.has('a')).toBe(false);
    expect(outbox.size).toBe(1);
    expect(outbox.due(0, 500).map((e) => e.id)).toEqual(['b']);
    expect(outbox.remove('a')).toBeUndefined();
  });

  it('keeps the first entry when an id is added twice', () => {
    const outbox = new Outbox();
    outbox.add(entry('a'));
    outbox.add({ ...entry('a'), body: 'changed' });
    expect(outbox.size).toBe(1);
    expect(outbox.get('a')?.body).toBe('body of a');
  });

  it('keeps send order across persistence', () => {
    const outbox = new Outbox();
    for (const id of ['c', 'a', 'b']) outbox.add(entry(id));
    const restored = new Outbox(outbox.entries());
    expect(restored.entries().map((e) => e.id)).toEqual(['c', 'a', 'b']);
  });
});
