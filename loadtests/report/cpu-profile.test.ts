import { describe, expect, it } from 'vitest';
import { shortenLocation, summariseProfile, type CpuProfile } from './cpu-profile.ts';

const frame = (id: number, functionName: string, url = '', lineNumber = 0) => ({
  id,
  callFrame: { functionName, url, lineNumber },
});

describe('summariseProfile', () => {
  const profile: CpuProfile = {
    nodes: [
      frame(1, '(idle)'),
      frame(2, 'send', 'file:///repo/services/chat-node/src/chat-node.ts', 41),
      frame(3, '(garbage collector)'),
      frame(4, 'run', 'file:///repo/node_modules/better-sqlite3/lib/statement.js', 9),
    ],
    // 4 idle samples, 6 busy: send 3, run 2, GC 1.
    samples: [1, 1, 1, 1, 2, 2, 2, 4, 4, 3],
    startTime: 0,
    endTime: 2_000_000,
  };
  const summary = summariseProfile(profile, 2);

  it('ranks frames by busy samples', () => {
    expect(summary.topFrames.map((entry) => entry.functionName)).toEqual(['send', 'run']);
    expect(summary.topFrames[0]!.selfPercent).toBe(50);
    expect(summary.topFrames[1]!.selfPercent).toBe(33.3);
  });

  it('reports idle and garbage collection apart', () => {
    expect(summary.idlePercent).toBe(40);
    expect(summary.gcPercent).toBe(16.7);
    expect(summary.durationSeconds).toBe(2);
  });
});

describe('shortenLocation', () => {
  it('keeps the repository path and a real line', () => {
    expect(shortenLocation('file:///repo/services/chat-node/src/chat-node.ts', 41)).toBe(
      'services/chat-node/src/chat-node.ts:42',
    );
  });

  it('drops line 0 and keeps node_modules paths', () => {
    expect(shortenLocation('file:///repo/node_modules/better-sqlite3/lib/x.js', 0)).toBe(
      'node_modules/better-sqlite3/lib/x.js',
    );
    expect(shortenLocation('', 5)).toBe('(native)');
  });
});
