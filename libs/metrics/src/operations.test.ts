import { afterEach, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  createLogger,
  DependencyProbe,
  generateRequestId,
  Readiness,
  registerErrorHandler,
  UnavailableError,
  type DurableLog,
  type LogRecord,
} from '@switchboard/core';
import { registerHttpOperations } from './http-operations.ts';
import { LagMonitor } from './lag-monitor.ts';
import { MeasuredLog } from './measured-log.ts';
import { SwitchboardMetrics } from './metrics.ts';
import { startOperationsServer, type OperationsServer } from './operations-server.ts';
import { parseExposition, sumSamples } from './testing/exposition.ts';

const logger = createLogger('test', { level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A dependency whose readiness check fails while `down` is set. With `freshMs` 0 every probe
 * runs the check. With the default, noted outcomes are reused for five seconds.
 */
function buildDependency(freshMs = 0) {
  const state = { down: false };
  const probe = new DependencyProbe({
    name: 'store',
    freshMs,
    check: async () => {
      if (state.down) throw new Error('store unreachable');
    },
    logger,
  });
  return { state, probe };
}

async function buildApp(options: { healthRoute?: boolean; metricsRoute?: boolean } = {}) {
  const metrics = new SwitchboardMetrics({ processMetrics: false });
  const dependency = buildDependency();
  const app: FastifyInstance = Fastify({ genReqId: generateRequestId });
  registerErrorHandler(app);
  registerHttpOperations(app, {
    metrics,
    readiness: new Readiness({ probes: [dependency.probe] }),
    ...options,
  });
  app.get('/v1/users/:id', async () => ({ id: 'u1' }));
  app.get('/v1/boom', async () => {
    throw new Error('boom');
  });
  await app.ready();
  cleanups.push(() => app.close());
  return { app, metrics, dependency };
}

describe('registerHttpOperations', () => {
  it('serves the exposition text at /metrics', async () => {
    const { app } = await buildApp();
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(parseExposition(response.body).has('switchboard_http_requests_total')).toBe(true);
  });

  it('answers /readyz with 503 while a dependency is down', async () => {
    const { app, dependency } = await buildApp();
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: [{ name: 'store', ok: true }] });

    dependency.state.down = true;
    const down = await app.inject({ method: 'GET', url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toEqual({
      status: 'not ready',
      checks: [{ name: 'store', ok: false, error: 'store unreachable' }],
    });

    dependency.state.down = false;
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('serves /healthz unless told not to', async () => {
    const withHealth = await buildApp();
    expect((await withHealth.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({
      status: 'ok',
    });
    const without = await buildApp({ healthRoute: false, metricsRoute: false });
    expect((await without.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(404);
    expect((await without.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
  });

  it('counts responses by route template and status class', async () => {
    const { app, metrics } = await buildApp();
    await app.inject({ method: 'GET', url: '/v1/users/alice' });
    await app.inject({ method: 'GET', url: '/v1/users/bob' });
    await app.inject({ method: 'GET', url: '/v1/boom' });
    await app.inject({ method: 'GET', url: '/no/such/path/123' });

    const families = parseExposition(await metrics.render());
    const count = (route: string, statusClass: string) =>
      sumSamples(families, 'switchboard_http_requests_total', { route, status_class: statusClass });
    expect(count('/v1/users/:id', '2xx')).toBe(2);
    expect(count('/v1/boom', '5xx')).toBe(1);
    expect(count('unmatched', '4xx')).toBe(1);
    const routes = families
      .get('switchboard_http_requests_total')!
      .samples.map((sample) => sample.labels.route);
    expect(routes).not.toContain('/v1/users/alice');
  });

  it('echoes the request id and keeps a valid one from the caller', async () => {
    const { app } = await buildApp();
    const given = await app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'trace-42' },
    });
    expect(given.headers['x-request-id']).toBe('trace-42');
    const made = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'bad id' } });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
  });
});

describe('startOperationsServer', () => {
  async function start(): Promise<{
    server: OperationsServer;
    dependency: ReturnType<typeof buildDependency>;
  }> {
    const dependency = buildDependency();
    const server = await startOperationsServer({
      host: '127.0.0.1',
      port: 0,
      metrics: new SwitchboardMetrics({ processMetrics: false }),
      readiness: new Readiness({ probes: [dependency.probe] }),
      logger,
    });
    cleanups.push(() => server.close());
    return { server, dependency };
  }

  it('serves /metrics, /healthz and /readyz on a socket', async () => {
    const { server, dependency } = await start();
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);

    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(parseExposition(await metrics.text()).has('switchboard_persister_lag_records')).toBe(true);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);

    dependency.state.down = true;
    const down = await fetch(`${server.url}/readyz`);
    expect(down.status).toBe(503);
    expect(((await down.json()) as { status: string }).status).toBe('not ready');
  });

  it('answers an unknown path with 404 and a write with 405', async () => {
    const { server } = await start();
    const missing = await fetch(`${server.url}/v1/route?access_token=secret`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).not.toContain('secret');
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});

describe('LagMonitor', () => {
  it('samples the lag into the gauge and reports failures to the probe', async () => {
    const metrics = new SwitchboardMetrics({ processMetrics: false });
    const { probe } = buildDependency(5000);
    const source = { lag: 12, fail: false };
    const monitor = new LagMonitor({
      read: async () => {
        if (source.fail) throw new UnavailableError('kafka unreachable');
        return source.lag;
      },
      gauge: metrics.persisterLag,
      intervalMs: 20,
      probe,
      logger,
    });
    await monitor.start();
    cleanups.push(() => monitor.stop());
    expect(sumSamples(parseExposition(await metrics.render()), 'switchboard_persister_lag_records')).toBe(12);

    source.fail = true;
    await waitUntil(async () => !(await probe.probe()).ok, 'the probe to see the failed sample');
    source.lag = 3;
    source.fail = false;
    await waitUntil(
      async () =>
        sumSamples(parseExposition(await metrics.render()), 'switchboard_persister_lag_records') === 3,
      'the gauge to show the new lag',
    );
    expect((await probe.probe()).ok).toBe(true);
  });
});

describe('MeasuredLog', () => {
  it('times appends by result and reports them to the probe', async () => {
    const metrics = new SwitchboardMetrics({ processMetrics: false });
    const { probe } = buildDependency(5000);
    let fail = false;
    const inner: DurableLog = {
      append: async () => {
        if (fail) throw new UnavailableError('kafka append failed');
      },
      consume: async () => ({ stop: async () => undefined }),
      awaitConsumed: async () => true,
      close: async () => undefined,
    };
    const log = new MeasuredLog(inner, { histogram: metrics.kafkaProduce, probe });
    const record = { kind: 'message' } as LogRecord;
    await log.append([record]);
    fail = true;
    await expect(log.append([record])).rejects.toThrow('kafka append failed');
    expect(await probe.probe()).toEqual({ name: 'store', ok: false, error: 'kafka append failed' });

    const families = parseExposition(await metrics.render());
    expect(sumSamples(families, 'switchboard_kafka_produce_seconds_count', { result: 'ok' })).toBe(1);
    expect(sumSamples(families, 'switchboard_kafka_produce_seconds_count', { result: 'error' })).toBe(1);
  });
});

async function waitUntil(check: () => Promise<boolean>, message: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
