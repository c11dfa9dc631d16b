import { describe, expect, it } from 'vitest';
import { describeStage, readHistogram } from './cluster-profile.ts';

function exposition(counts: { a: number[]; b: number[] }, sums: { a: number; b: number }): string {
  const series = (node: 'a' | 'b') => [
    `switchboard_ack_latency_seconds_bucket{le="0.005",node="${node}"} ${counts[node][0]}`,
    `switchboard_ack_latency_seconds_bucket{le="0.05",node="${node}"} ${counts[node][1]}`,
    `switchboard_ack_latency_seconds_bucket{le="+Inf",node="${node}"} ${counts[node][2]}`,
    `switchboard_ack_latency_seconds_sum{node="${node}"} ${sums[node]}`,
    `switchboard_ack_latency_seconds_count{node="${node}"} ${counts[node][2]}`,
  ];
  return [
    '# HELP switchboard_ack_latency_seconds Time from a send frame arriving to its ack.',
    '# TYPE switchboard_ack_latency_seconds histogram',
    ...series('a'),
    ...series('b'),
    'switchboard_kafka_produce_seconds_count{result="ok"} 7',
    'switchboard_kafka_produce_seconds_count{result="error"} 2',
  ].join('\n');
}

describe('readHistogram', () => {
  it('adds up the series of every node', () => {
    const text = exposition({ a: [1, 3, 4], b: [0, 2, 2] }, { a: 0.1, b: 0.05 });

    const histogram = readHistogram(text, 'switchboard_ack_latency_seconds', '');

    expect(histogram.count).toBe(6);
    expect(histogram.sum).toBeCloseTo(0.15);
    expect(histogram.buckets).toEqual([
      [0.005, 1],
      [0.05, 5],
      [Infinity, 6],
    ]);
  });

  it('keeps only series with the labels', () => {
    const text = exposition({ a: [0, 0, 0], b: [0, 0, 0] }, { a: 0, b: 0 });

    expect(readHistogram(text, 'switchboard_kafka_produce_seconds', 'result="ok"').count).toBe(7);
  });
});

describe('describeStage', () => {
  it('measures what was observed between readings', () => {
    const before = readHistogram(
      exposition({ a: [1, 1, 1], b: [0, 0, 0] }, { a: 0.001, b: 0 }),
      'switchboard_ack_latency_seconds',
      '',
    );
    const after = readHistogram(
      exposition({ a: [1, 90, 101], b: [0, 0, 0] }, { a: 2.001, b: 0 }),
      'switchboard_ack_latency_seconds',
      '',
    );

    const stage = describeStage('ack', before, after);

    expect(stage.count).toBe(100);
    expect(stage.meanMs).toBe(20);
    expect(stage.p50BucketMs).toBe(50);
    expect(stage.p99BucketMs).toBe(Infinity);
  });

  it('reports no latency without observations', () => {
    const reading = readHistogram('', 'switchboard_ack_latency_seconds', '');

    expect(Number.isNaN(describeStage('ack', reading, reading).meanMs)).toBe(true);
  });
});
