import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, DependencyProbe, type ReadinessReport } from '@switchboard/core';
import { waitFor } from '@switchboard/core/testing';
import { openPushLogs, openSqlite } from '@switchboard/embedded';
import { SwitchboardMetrics } from '@switchboard/metrics';
import { parseExposition, sumSamples } from '@switchboard/metrics/testing';
import { startPushWorkerOperations } from './operations.ts';
import { PushWorker, PUSH_WORKER_GROUP } from './push-worker.ts';
import { buildPushJob } from './testing/index.ts';

const logger = createLogger('test', { level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Starts a worker without providers and its operations server on a free port. */
async function startWorker() {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-push-operations-'));
  const logs = await openPushLogs(dir, logger);
  const sqlite = openSqlite(join(dir, 'switchboard.db'));
  const metrics = new SwitchboardMetrics({ processMetrics: false });
  const worker = new PushWorker({
    jobs: logs.jobs,
    deadLetters: logs.dead,
    registry: sqlite.push,
    providers: [],
    logger,
    metrics,
  });
  await worker.start();
  const operations = await startPushWorkerOperations({
    worker,
    readLag: () => logs.jobs.lag(PUSH_WORKER_GROUP),
    registryProbe: new DependencyProbe({
      name: 'store',
      check: () => sqlite.push.getSettings('readiness-probe'),
      logger,
    }),
    metrics,
    host: '127.0.0.1',
    port: 0,
    lagIntervalMs: 50,
    logger,
  });
  cleanups.push(async () => {
    await operations.close();
    await worker.stop();
    await logs.close();
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { logs, worker, operations };
}

async function scrape(url: string) {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

describe('push worker operations', () => {
  it('samples the lag and counts jobs dropped without providers', async () => {
    const { logs, worker, operations } = await startWorker();
    await worker.stop();
    await logs.jobs.append([
      buildPushJob('ops-ann', 'd.ops-ann.bob', 1),
      buildPushJob('ops-ann', 'd.ops-ann.bob', 2),
    ]);
    await waitFor(
      async () => sumSamples(await scrape(operations.url), 'switchboard_push_lag_records') === 2,
      'the lag gauge to show 2 jobs',
    );

    await worker.start();
    await waitFor(
      async () =>
        sumSamples(await scrape(operations.url), 'switchboard_push_dropped_total', {
          reason: 'no_provider',
        }) === 2,
      'two jobs dropped for want of a provider',
    );
    await waitFor(
      async () => sumSamples(await scrape(operations.url), 'switchboard_push_lag_records') === 0,
      'the lag gauge to return to 0',
    );
    const families = await scrape(operations.url);
    for (const name of [
      'switchboard_push_sent_total',
      'switchboard_push_failed_total',
      'switchboard_push_retried_total',
      'switchboard_push_send_seconds',
    ]) {
      expect(families.has(name), name).toBe(true);
    }
    expect(families.get('switchboard_push_send_seconds')!.type).toBe('histogram');
  });

  it('is ready while the consumer runs and not after it stopped', async () => {
    const { worker, operations } = await startWorker();
    const ready = await fetch(`${operations.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as ReadinessReport).checks.map((check) => check.name)).toEqual([
      'consumer',
      'log',
      'store',
    ]);

    await worker.stop();
    const stopped = await fetch(`${operations.url}/readyz`);
    expect(stopped.status).toBe(503);
    expect(((await stopped.json()) as ReadinessReport).checks[0]).toEqual({
      name: 'consumer',
      ok: false,
      error: 'stopped',
    });
    expect((await fetch(`${operations.url}/healthz`)).status).toBe(200);
  });
});
