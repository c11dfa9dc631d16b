import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, DependencyProbe, Readiness, TokenIssuer } from '@switchboard/core';
import { InProcessBus } from '@switchboard/embedded';
import { registerHttpOperations, SwitchboardMetrics } from '@switchboard/metrics';
import { parseExposition, sumSamples } from '@switchboard/metrics/testing';
import { buildRingCondition, buildRouter } from './app.ts';

const logger = createLogger('test', { level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A router app over an in-process bus, wired with the operations routes as main.ts wires them. */
async function startRouter() {
  const bus = new InProcessBus();
  const tokens = new TokenIssuer({
    secret: 'router-readiness-test-secret-0123456789',
    accessTtlSeconds: 60,
    refreshTtlSeconds: 3600,
  });
  const { app, membership } = await buildRouter({ bus, tokens, logger, refreshMs: 50 });
  const metrics = new SwitchboardMetrics({ processMetrics: false });
  metrics.watchRing(membership);
  const readiness = new Readiness({
    probes: [new DependencyProbe({ name: 'bus', check: () => bus.members(), logger })],
    conditions: [buildRingCondition(membership)],
  });
  registerHttpOperations(app, { metrics, readiness });
  await app.ready();
  cleanups.push(async () => {
    await app.close();
    await bus.close();
  });
  return { app, bus, membership, metrics };
}

const NODE = { id: 'node-1', url: 'ws://127.0.0.1:9001/ws', weight: 1, startedAt: 1_700_000_000_000 };

describe('router readiness', () => {
  it('is not ready while the ring is empty', async () => {
    const { app } = await startRouter();
    const response = await app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({
      status: 'not ready',
      checks: [
        { name: 'ring', ok: false, error: 'the ring is empty: no chat node is live' },
        { name: 'bus', ok: true },
      ],
    });
  });

  it('is ready once a chat node joins and not after it leaves', async () => {
    const { app, bus, membership } = await startRouter();
    await bus.heartbeat(NODE, 10_000);
    await membership.refresh();
    const joined = await app.inject({ method: 'GET', url: '/readyz' });
    expect(joined.statusCode).toBe(200);
    expect(joined.json()).toEqual({
      status: 'ready',
      checks: [
        { name: 'ring', ok: true },
        { name: 'bus', ok: true },
      ],
    });

    await bus.leave(NODE.id);
    await membership.refresh();
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
  });

  it('stays live whatever the ring', async () => {
    const { app } = await startRouter();
    const response = await app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('exports the ring and the requests it served', async () => {
    const { app, bus, membership } = await startRouter();
    await bus.heartbeat(NODE, 10_000);
    await membership.refresh();
    await app.inject({ method: 'GET', url: '/v1/ring' });
    await app.inject({ method: 'GET', url: '/v1/route' });

    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    const families = parseExposition(response.body);
    expect(sumSamples(families, 'switchboard_ring_size')).toBe(1);
    expect(families.get('switchboard_ring_version_info')!.samples[0]!.labels.version).toBe(
      membership.ringVersion,
    );
    expect(sumSamples(families, 'switchboard_ring_changes_total')).toBe(1);
    expect(
      sumSamples(families, 'switchboard_http_requests_total', { route: '/v1/ring', status_class: '2xx' }),
    ).toBe(1);
    expect(
      sumSamples(families, 'switchboard_http_requests_total', { route: '/v1/route', status_class: '4xx' }),
    ).toBe(1);
  });
});
