import { describe, expect, it } from 'vitest';
import type { StepResult } from '../harness/ladder.ts';
import {
  END_MARK,
  findBestStep,
  renderBenchmarks,
  START_MARK,
  type BenchResults,
} from './benchmarks-report.ts';
import { buildLogTicks, renderLogLogPlot } from './svg-plot.ts';

function step(offeredPerSecond: number, p99Ms: number, deliveredPerSecond = offeredPerSecond): StepResult {
  return {
    offeredPerSecond,
    sent: offeredPerSecond,
    acked: offeredPerSecond,
    delivered: offeredPerSecond,
    lost: 0,
    unacked: 0,
    duplicated: 0,
    outOfOrder: 0,
    disconnects: 0,
    deliveredPerSecond,
    p50Ms: 1,
    p99Ms,
    p999Ms: p99Ms,
    maxMs: p99Ms,
    serverCpuPercent: 50,
    serverRssMiB: 100,
    harnessCpuPercent: 20,
  };
}

const results: BenchResults = {
  generatedAt: '2026-01-01T00:00:00.000Z',
  command: 'make bench',
  quick: false,
  machine: { cores: 2, cpuModel: 'test CPU', memoryGiB: 24, node: 'v20.0.0', loadAverageAtStart: [1, 1, 1] },
  settings: {
    rates: [1000, 2000],
    stepSecondsPerRate: 8,
    pairs: 40,
    workers: 2,
    bodyBytes: 100,
    idleConnections: 100_000,
    idleNodes: 7,
    failoverConnections: 9000,
  },
  systems: {
    'switchboard-embedded': {
      label: 'Switchboard embedded',
      measuredAt: 'now',
      steps: [step(1000, 10), step(2000, 40)],
    },
    socketio: { label: 'Socket.IO', measuredAt: 'now', steps: [step(1000, 20), step(2000, 90)] },
  },
};

describe('findBestStep', () => {
  it('picks the highest rate under 50 ms', () => {
    expect(findBestStep([step(1000, 10), step(2000, 40), step(3000, 80)])?.offeredPerSecond).toBe(2000);
  });

  it('skips a step that fell behind', () => {
    expect(findBestStep([step(1000, 10), step(2000, 10, 1500)])?.offeredPerSecond).toBe(1000);
  });
});

describe('renderBenchmarks', () => {
  it('keeps other sections and replaces the old embedded block', () => {
    const current = [
      '# Switchboard benchmarks',
      '',
      '<!-- bench:engines:start -->',
      'engines text',
      '<!-- bench:engines:end -->',
      '',
      '<!-- bench:embedded:start -->',
      'old embedded text',
      '<!-- bench:embedded:end -->',
      '',
    ].join('\n');
    const page = renderBenchmarks(results, current);
    expect(page).toContain('engines text');
    expect(page).not.toContain('old embedded text');
    expect(page).toContain(START_MARK);
    expect(page).toContain(END_MARK);
  });

  it('replaces its own block on a second run', () => {
    const first = renderBenchmarks(results, '# Switchboard benchmarks\n\nnotes by hand\n');
    const second = renderBenchmarks({ ...results, generatedAt: '2026-02-02T00:00:00.000Z' }, first);
    expect(second.split(START_MARK).length).toBe(2);
    expect(second).toContain('notes by hand');
    expect(second).toContain('2026-02-02');
    expect(second).not.toContain('2026-01-01');
  });

  it('states the ratio to Socket.IO against the target', () => {
    const page = renderBenchmarks(results, '');
    expect(page).toContain('2,000 vs 1,000 msg/s: 2.00x, short by 60% of the target');
  });

  it('lists the CPU and stages of the cluster profile', () => {
    const page = renderBenchmarks(
      {
        ...results,
        clusterProfile: {
          measuredAt: '2026-01-01T00:00:00.000Z',
          offeredPerSecond: 1000,
          step: step(1000, 120),
          processes: [
            { name: 'chat node chat-node-1', cpuPercent: 25 },
            { name: 'Cassandra', cpuPercent: 79 },
          ],
          stages: [
            { name: 'Kafka append', count: 1000, meanMs: 12.5, p50BucketMs: 10, p99BucketMs: Infinity },
          ],
          chatNode: {
            durationSeconds: 20,
            idlePercent: 80,
            gcPercent: 5,
            topFrames: [{ functionName: 'reserve', location: 'libs/redis/src/x.ts', selfPercent: 3 }],
          },
        },
      },
      '',
    );

    expect(page).toContain('### Cluster profile');
    expect(page).toContain('| Cassandra | 79% |');
    expect(page).toContain('| Kafka append | 1,000 | 12.5 | 10 | above the last bucket |');
    expect(page).toContain('| 3 | `reserve` | libs/redis/src/x.ts |');
  });
});

describe('renderLogLogPlot', () => {
  it('lists ticks at 1, 2 and 5 per decade', () => {
    expect(buildLogTicks(100, 1000)).toEqual([100, 200, 500, 1000]);
  });

  it('draws one line per series with data', () => {
    const svg = renderLogLogPlot(
      [
        {
          label: 'a',
          points: [
            { x: 100, y: 1 },
            { x: 1000, y: 10 },
          ],
        },
        { label: 'b', points: [] },
      ],
      { title: 't', xLabel: 'x', yLabel: 'y', reference: { y: 50, label: '50 ms' } },
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)?.length).toBe(1);
    expect(svg).toContain('b (no data)');
  });
});
