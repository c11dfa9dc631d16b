import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReadinessReport } from '@switchboard/core';
import { parseExposition, sumSamples, type MetricFamily } from '@switchboard/metrics/testing';
import {
  registerOnDifferentNodes,
  startTestCluster,
  TEST_PROFILE,
  waitFor,
  type OperationsEndpoint,
  type TestCluster,
} from './testing/cluster.ts';
import { connectDevice, type Device } from './testing/sdk.ts';

/** The metric names that are the contract with the alert rules and dashboards. */
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
  'nodejs_eventloop_lag_seconds',
  'process_cpu_seconds_total',
];
const MESSAGES = 10;

let cluster: TestCluster;
const devices: Device[] = [];
const scrapes = new Map<string, Map<string, MetricFamily>>();

/** Sums `name` over the endpoints whose names pass `include`. */
function total(
  name: string,
  labels: Record<string, string> = {},
  include: (endpoint: string) => boolean = () => true,
) {
  let sum = 0;
  for (const [endpoint, families] of scrapes)
    if (include(endpoint)) sum += sumSamples(families, name, labels);
  return sum;
}

const isChatNode = (endpoint: string) => endpoint === 'embedded' || endpoint.startsWith('node-');

describe(`operations endpoints (${TEST_PROFILE} profile)`, () => {
  beforeAll(async () => {
    cluster = await startTestCluster();
    const [alice, bob] = await registerOnDifferentNodes(cluster, 'ops');
    const a = await connectDevice(cluster, alice);
    const b = await connectDevice(cluster, bob);
    devices.push(a, b);
    const first = await a.client.send({ to: bob.id }, 'ops 0');
    for (let i = 1; i < MESSAGES; i++) await a.client.send({ conv: first.conv }, `ops ${i}`);
    await b.waitForMessages(first.conv, MESSAGES);
    // The persister must have stored them before its counter can be checked.
    await waitFor(async () => {
      const response = await fetch(`${cluster.apiUrl}/v1/conversations/${first.conv}/messages?limit=100`, {
        headers: { authorization: `Bearer ${bob.accessToken}` },
      });
      return (
        response.status === 200 &&
        ((await response.json()) as { messages: unknown[] }).messages.length === MESSAGES
      );
    }, 'history to hold every message');

    for (const endpoint of cluster.operationsEndpoints()) {
      const response = await fetch(`${endpoint.url}/metrics`);
      expect(response.status, `${endpoint.name} /metrics`).toBe(200);
      expect(response.headers.get('content-type'), `${endpoint.name} content type`).toMatch(/^text\/plain/);
      scrapes.set(endpoint.name, parseExposition(await response.text()));
    }
  }, 240_000);

  afterAll(async () => {
    for (const device of devices) await device.client.close();
    await cluster?.destroy();
  }, 120_000);

  it('lists one endpoint per process', () => {
    const names = cluster.operationsEndpoints().map((endpoint: OperationsEndpoint) => endpoint.name);
    expect(names).toEqual(
      TEST_PROFILE === 'embedded'
        ? ['embedded']
        : ['router', 'api', 'persister', ...cluster.nodes.map((node) => node.id)],
    );
  });

  it('answers /healthz and /readyz on every endpoint', async () => {
    for (const endpoint of cluster.operationsEndpoints()) {
      const health = await fetch(`${endpoint.url}/healthz`);
      expect(health.status, `${endpoint.name} /healthz`).toBe(200);
      const ready = await fetch(`${endpoint.url}/readyz`);
      const report = (await ready.json()) as ReadinessReport;
      expect(
        report.checks.filter((check) => !check.ok),
        `${endpoint.name} failed checks`,
      ).toEqual([]);
      expect(ready.status, `${endpoint.name} /readyz`).toBe(200);
    }
  });

  it('exports every contract name on every endpoint', () => {
    for (const [endpoint, families] of scrapes) {
      const missing = CONTRACT_NAMES.filter((name) => !families.has(name));
      expect(missing, `names missing on ${endpoint}`).toEqual([]);
    }
  });

  it('counts the message path on the chat nodes', () => {
    expect(total('switchboard_messages_accepted_total', {}, isChatNode)).toBeGreaterThanOrEqual(MESSAGES);
    expect(total('switchboard_frames_received_total', { type: 'send' }, isChatNode)).toBeGreaterThanOrEqual(
      MESSAGES,
    );
    expect(total('switchboard_frames_sent_total', { type: 'ack' }, isChatNode)).toBeGreaterThanOrEqual(
      MESSAGES,
    );
    expect(total('switchboard_ack_latency_seconds_count', {}, isChatNode)).toBeGreaterThanOrEqual(MESSAGES);
    // Alice and Bob live on different nodes, so every message crossed the bus.
    expect(total('switchboard_cross_node_publishes_total', {}, isChatNode)).toBeGreaterThanOrEqual(1);
    expect(
      total('switchboard_messages_delivered_total', { path: 'remote' }, isChatNode),
    ).toBeGreaterThanOrEqual(MESSAGES);
    expect(total('switchboard_send_to_deliver_seconds_count', {}, isChatNode)).toBeGreaterThanOrEqual(
      MESSAGES,
    );
    const sum = total('switchboard_send_to_deliver_seconds_sum', {}, isChatNode);
    expect(sum).toBeGreaterThanOrEqual(0);
    expect(sum / total('switchboard_send_to_deliver_seconds_count', {}, isChatNode)).toBeLessThan(5);
    expect(total('switchboard_connections', {}, isChatNode)).toBeGreaterThanOrEqual(2);
    expect(total('switchboard_rate_limited_total', {}, isChatNode)).toBe(0);
  });

  it('agrees on the ring everywhere', () => {
    const versions = new Set<string>();
    for (const [endpoint, families] of scrapes) {
      if (endpoint === 'api' || endpoint === 'persister') continue;
      expect(sumSamples(families, 'switchboard_ring_size'), `${endpoint} ring size`).toBe(
        cluster.nodes.length,
      );
      const info = families.get('switchboard_ring_version_info')!.samples;
      expect(
        info.map((sample) => sample.value),
        `${endpoint} ring version samples`,
      ).toEqual([1]);
      versions.add(info[0]!.labels.version!);
    }
    expect(versions.size).toBe(1);
  });

  it('reports the persister and the HTTP requests', () => {
    const persister = (endpoint: string) => endpoint === 'embedded' || endpoint === 'persister';
    expect(total('switchboard_persister_applied_records_total', {}, persister)).toBeGreaterThanOrEqual(
      MESSAGES,
    );
    const lag = total('switchboard_persister_lag_records', {}, persister);
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(lag)).toBe(true);
    expect(total('switchboard_http_requests_total', { status_class: '2xx' })).toBeGreaterThan(0);
    for (const [endpoint, families] of scrapes) {
      const lagSeconds = sumSamples(families, 'nodejs_eventloop_lag_seconds');
      expect(lagSeconds >= 0 && lagSeconds < 5, `${endpoint} event-loop lag ${lagSeconds}`).toBe(true);
    }
  });

  it.skipIf(TEST_PROFILE !== 'cluster')('times Kafka appends and Cassandra requests', () => {
    expect(
      total('switchboard_kafka_produce_seconds_count', { result: 'ok' }, isChatNode),
    ).toBeGreaterThanOrEqual(MESSAGES);
    expect(
      total('switchboard_cassandra_query_seconds_count', { result: 'ok' }, (name) => name === 'persister'),
    ).toBeGreaterThan(0);
    expect(
      total('switchboard_cassandra_query_seconds_count', { result: 'ok' }, (name) => name === 'api'),
    ).toBeGreaterThan(0);
  });
});
