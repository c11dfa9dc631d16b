import { describe, expect, it } from 'vitest';
import { SwitchboardMetrics } from './metrics.ts';
import { parseExposition, sumSamples } from './testing/exposition.ts';

/** The names every Switchboard process exports, whatever its role. */
const CONTRACT_NAMES = [
  'switchboard_connections',
  'switchboard_frames_received_total',
  'switchboard_frames_sent_total',
  'switchboard_messages_accepted_total',
  'switchboard_messages_delivered_total',
  'switchboard_ack_latency_seconds',
  'switchboard_send_to_deliver_seconds',
  'switchboard_cross_node_publishes_total',
  'switchboard_ring_size',
  'switchboard_ring_version_info',
  'switchboard_kafka_produce_seconds',
  'switchboard_persister_lag_records',
  'switchboard_persister_applied_records_total',
  'switchboard_cassandra_query_seconds',
  'switchboard_push_sent_total',
  'switchboard_push_failed_total',
  'switchboard_rate_limited_total',
  'switchboard_slow_consumer_total',
  'switchboard_http_requests_total',
];

async function scrape(metrics: SwitchboardMetrics) {
  return parseExposition(await metrics.render());
}

describe('SwitchboardMetrics', () => {
  it('exports every contract name with its type', async () => {
    const families = await scrape(new SwitchboardMetrics());
    for (const name of CONTRACT_NAMES) expect(families.has(name), name).toBe(true);
    expect(families.get('switchboard_ack_latency_seconds')!.type).toBe('histogram');
    expect(families.get('switchboard_connections')!.type).toBe('gauge');
    expect(families.get('switchboard_frames_sent_total')!.type).toBe('counter');
    expect(families.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect(families.has('process_cpu_seconds_total')).toBe(true);
  });

  it('leaves out process metrics when asked', async () => {
    const families = await scrape(new SwitchboardMetrics({ processMetrics: false }));
    expect(families.has('nodejs_eventloop_lag_seconds')).toBe(false);
  });

  it('counts a node frames, messages and deliveries by label', async () => {
    const metrics = new SwitchboardMetrics({ processMetrics: false });
    const node = metrics.forNode('node-1');
    node.frameReceived('send');
    node.frameReceived('send');
    node.frameReceived('invalid');
    node.frameSent('ack');
    node.messageAccepted();
    node.deliveryWritten('{"type":"message","conv":"d.a.b","seq":1}', 'local', Date.now() - 20);
    node.deliveryWritten('{"type":"message","conv":"d.a.b","seq":2}', 'remote', Date.now() - 20);
    node.deliveryWritten('{"type":"receipt","conv":"d.a.b"}', 'remote', undefined);
    node.deliveryWritten('{"type":"typing","conv":"d.a.b"}', 'local', undefined);
    node.deliveryWritten('not json', 'local', undefined);
    node.crossNodePublish();
    node.rateLimited();
    node.slowConsumer('behind');
    node.setConnectionSource(() => 7);

    const families = await scrape(metrics);
    const at = { node: 'node-1' };
    expect(sumSamples(families, 'switchboard_frames_received_total', { ...at, type: 'send' })).toBe(2);
    expect(sumSamples(families, 'switchboard_frames_received_total', { ...at, type: 'invalid' })).toBe(1);
    expect(sumSamples(families, 'switchboard_frames_sent_total', { ...at, type: 'message' })).toBe(2);
    expect(sumSamples(families, 'switchboard_frames_sent_total', { ...at, type: 'receipt' })).toBe(1);
    expect(sumSamples(families, 'switchboard_frames_sent_total', { ...at, type: 'typing' })).toBe(1);
    expect(sumSamples(families, 'switchboard_frames_sent_total', { ...at, type: 'other' })).toBe(1);
    expect(sumSamples(families, 'switchboard_frames_sent_total', { ...at, type: 'ack' })).toBe(1);
    expect(sumSamples(families, 'switchboard_messages_accepted_total', at)).toBe(1);
    expect(sumSamples(families, 'switchboard_messages_delivered_total', { ...at, path: 'local' })).toBe(1);
    expect(sumSamples(families, 'switchboard_messages_delivered_total', { ...at, path: 'remote' })).toBe(1);
    expect(sumSamples(families, 'switchboard_send_to_deliver_seconds_count', at)).toBe(2);
    expect(sumSamples(families, 'switchboard_send_to_deliver_seconds_sum', at)).toBeGreaterThanOrEqual(0.04);
    expect(sumSamples(families, 'switchboard_cross_node_publishes_total', at)).toBe(1);
    expect(sumSamples(families, 'switchboard_rate_limited_total', at)).toBe(1);
    expect(sumSamples(families, 'switchboard_slow_consumer_total', { ...at, action: 'behind' })).toBe(1);
    expect(sumSamples(families, 'switchboard_connections', at)).toBe(7);
  });

  it('keeps histogram buckets cumulative', async () => {
    const metrics = new SwitchboardMetrics({ processMetrics: false });
    const node = metrics.forNode('node-1');
    for (const seconds of [0.0001, 0.003, 0.003, 0.2, 30]) node.ackSent(seconds);

    const families = await scrape(metrics);
    const buckets = families
      .get('switchboard_ack_latency_seconds')!
      .samples.filter((sample) => sample.name === 'switchboard_ack_latency_seconds_bucket');
    const byBound = new Map(buckets.map((sample) => [sample.labels.le, sample.value]));
    expect(byBound.get('0.0005')).toBe(1);
    expect(byBound.get('0.005')).toBe(3);
    expect(byBound.get('0.25')).toBe(4);
    expect(byBound.get('10')).toBe(4);
    expect(byBound.get('+Inf')).toBe(5);
    const values = buckets.map((sample) => sample.value);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(sumSamples(families, 'switchboard_ack_latency_seconds_count')).toBe(5);
    expect(sumSamples(families, 'switchboard_ack_latency_seconds_sum')).toBeCloseTo(30.2061, 4);
  });

  it('gives a restarted node its counters back', async () => {
    const metrics = new SwitchboardMetrics({ processMetrics: false });
    metrics.forNode('node-1').messageAccepted();
    metrics.forNode('node-1').messageAccepted();
    expect(metrics.forNode('node-1')).toBe(metrics.forNode('node-1'));
    const families = await scrape(metrics);
    expect(sumSamples(families, 'switchboard_messages_accepted_total', { node: 'node-1' })).toBe(2);
  });

  it('reads the ring at scrape time and counts its changes', async () => {
    const metrics = new SwitchboardMetrics({ processMetrics: false });
    const listeners: Array<() => void> = [];
    const ring = {
      ringVersion: 'v1',
      members: ['node-1'] as unknown[],
      onChange(listener: () => void) {
        listeners.push(listener);
        return () => undefined;
      },
    };
    metrics.watchRing(ring);
    ring.ringVersion = 'v2';
    ring.members = ['node-1', 'node-2'];
    for (const listener of listeners) listener();

    const families = await scrape(metrics);
    expect(sumSamples(families, 'switchboard_ring_size')).toBe(2);
    expect(families.get('switchboard_ring_version_info')!.samples).toEqual([
      { name: 'switchboard_ring_version_info', labels: { version: 'v2' }, value: 1 },
    ]);
    expect(sumSamples(families, 'switchboard_ring_changes_total')).toBe(1);
  });

  it('counts Kafka append errors from the produce histogram', async () => {
    const metrics = new SwitchboardMetrics({ processMetrics: false });
    metrics.kafkaProduce.series('error').observe(0.5);
    metrics.kafkaProduce.series('ok').observe(0.002);
    const families = await scrape(metrics);
    expect(sumSamples(families, 'switchboard_kafka_produce_errors_total')).toBe(1);
    expect(sumSamples(families, 'switchboard_kafka_produce_seconds_count', { result: 'ok' })).toBe(1);
  });
});

describe('parseExposition', () => {
  it('parses escaped label values and special numbers', () => {
    const families = parseExposition(
      [
        '# HELP x_total A counter.',
        '# TYPE x_total counter',
        'x_total{path="a\\"b\\\\c",le="+Inf"} 3 1700000000000',
        'y NaN',
        'z -Inf',
      ].join('\n'),
    );
    expect(families.get('x_total')!.samples[0]).toEqual({
      name: 'x_total',
      labels: { path: 'a"b\\c', le: '+Inf' },
      value: 3,
    });
    expect(families.get('y')!.samples[0]!.value).toBeNaN();
    expect(families.get('z')!.samples[0]!.value).toBe(-Infinity);
  });

  it.each([['x_total{a="1" 3'], ['x_total three'], ['x_total{a=1} 3'], ['9x 1']])(
    'rejects the malformed line %j',
    (line) => {
      expect(() => parseExposition(line)).toThrow();
    },
  );
});
