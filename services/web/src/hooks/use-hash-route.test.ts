import { describe, expect, it } from 'vitest';
import { formatRoute, parseRoute } from './use-hash-route.ts';

describe('hash routes', () => {
  it.each([
    ['', { view: 'list' }],
    ['#/', { view: 'list' }],
    ['#/c/', { view: 'list' }],
    ['#/c/d.u_a.u_b', { view: 'chat', conv: 'd.u_a.u_b' }],
    ['#/elsewhere', { view: 'list' }],
  ])('parses %j', (hash, route) => {
    expect(parseRoute(hash)).toEqual(route);
  });

  it('formats what it parses', () => {
    const route = { view: 'chat', conv: 'g.team-1' } as const;
    expect(parseRoute(formatRoute(route))).toEqual(route);
    expect(formatRoute({ view: 'list' })).toBe('#/');
  });
});
