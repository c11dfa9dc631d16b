import { describe, expect, it } from 'vitest';
import type { GroupEvent } from '@switchboard/protocol';
import { describeGroupEvent } from './group-events.ts';

const NAMES: Record<string, string> = { u_a: 'Alice', u_b: 'Bob', u_c: 'Carol' };
const nameOf = (id: string) => NAMES[id] ?? id;

describe('describeGroupEvent', () => {
  it.each<[GroupEvent, string, string]>([
    [
      { action: 'created', users: ['u_b'], name: 'Trip', groupKind: 'group' },
      'u_a',
      'Alice created the group “Trip”',
    ],
    [
      { action: 'created', users: [], name: 'News', groupKind: 'channel' },
      'u_me',
      'You created the channel “News”',
    ],
    [{ action: 'renamed', users: [], name: 'Ski' }, 'u_b', 'Bob renamed the group to “Ski”'],
    [{ action: 'added', users: ['u_b', 'u_c', 'u_me'] }, 'u_a', 'Alice added Bob, Carol and you'],
    [{ action: 'removed', users: ['u_me'] }, 'u_a', 'Alice removed you'],
    [{ action: 'left', users: ['u_c'] }, 'u_c', 'Carol left'],
    [{ action: 'left', users: ['u_me'] }, 'u_me', 'You left'],
    [{ action: 'promoted', users: ['u_b'] }, 'u_me', 'You made Bob an admin'],
    [{ action: 'promoted', users: ['u_b', 'u_c'] }, 'u_a', 'Alice made Bob and Carol admins'],
  ])('describes %j', (event, actor, expected) => {
    expect(describeGroupEvent(event, actor, 'u_me', nameOf)).toBe(expected);
  });
});
