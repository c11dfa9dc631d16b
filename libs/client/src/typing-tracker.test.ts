import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TypingSender, TypingTracker, type TypingEvent } from './typing-tracker.ts';

describe('TypingTracker', () => {
  let events: TypingEvent[];
  let tracker: TypingTracker;

  beforeEach(() => {
    vi.useFakeTimers();
    events = [];
    tracker = new TypingTracker((event) => events.push(event));
  });

  afterEach(() => {
    tracker.clear();
    vi.useRealTimers();
  });

  it('reports a start once and a stop once', () => {
    tracker.receive({ type: 'typing', conv: 'g.team', user: 'bob', state: 'start', expiresIn: 1000 });
    tracker.receive({ type: 'typing', conv: 'g.team', user: 'bob', state: 'start', expiresIn: 1000 });
    tracker.receive({ type: 'typing', conv: 'g.team', user: 'bob', state: 'stop' });
    tracker.receive({ type: 'typing', conv: 'g.team', user: 'bob', state: 'stop' });

    expect(events).toEqual([
      { conv: 'g.team', user: 'bob', typing: true },
      { conv: 'g.team', user: 'bob', typing: false },
    ]);
  });

  it('ends an indicator whose expiry passes without renewal', () => {
    tracker.receive({ type: 'typing', conv: 'g.team', user: 'bob', state: 'start', expiresIn: 1000 });
    vi.advanceTimersByTime(999);
    const beforeExpiry = events.length;
    vi.advanceTimersByTime(1);

    expect(beforeExpiry).toBe(1);
    expect(events.at(-1)).toEqual({ conv: 'g.team', user: 'bob', typing: false });
  });

  it('keeps an indicator that is renewed in time', () => {
    tracker.receive({ type: 'typing', conv: 'g.team', user: 'bob', state: 'start', expiresIn: 1000 });
    vi.advanceTimersByTime(800);
    tracker.receive({ type: 'typing', conv: 'g.team', user: 'bob', state: 'start', expiresIn: 1000 });
    vi.advanceTimersByTime(800);

    expect(events).toEqual([{ conv: 'g.team', user: 'bob', typing: true }]);
  });

  it('tracks users and conversations apart', () => {
    tracker.receive({ type: 'typing', conv: 'g.team', user: 'bob', state: 'start', expiresIn: 1000 });
    tracker.receive({ type: 'typing', conv: 'g.team', user: 'carol', state: 'start', expiresIn: 1000 });
    tracker.receive({ type: 'typing', conv: 'g.other', user: 'bob', state: 'start', expiresIn: 1000 });

    expect(events.filter((event) => event.typing)).toHaveLength(3);
  });
});

describe('TypingSender', () => {
  it('sends a start at most once per renewal period', () => {
    const sender = new TypingSender(3000);

    expect(sender.next('g.team', true, 0)).toBe('start');
    expect(sender.next('g.team', true, 1000)).toBeNull();
    expect(sender.next('g.team', true, 3000)).toBe('start');
  });

  it('sends a stop only after a start', () => {
    const sender = new TypingSender(3000);

    expect(sender.next('g.team', false, 0)).toBeNull();
    sender.next('g.team', true, 0);
    expect(sender.next('g.team', false, 10)).toBe('stop');
    expect(sender.next('g.team', false, 20)).toBeNull();
  });

  it('sends again after a reset', () => {
    const sender = new TypingSender(3000);
    sender.next('g.team', true, 0);

    sender.reset();

    expect(sender.next('g.team', true, 10)).toBe('start');
  });
});
