import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLogger,
  DependencyProbe,
  READINESS_PROBE_CONVERSATION,
  type ReadinessReport,
} from '@switchboard/core';
import { buildMessage, waitFor } from '@switchboard/core/testing';
import { FileLog, openSqlite } from '@switchboard/embedded';
import { SwitchboardMetrics } from '@switchboard/metrics';
import { parseExposition, sumSamples } from '@switchboard/metrics/testing';
import { startPersisterOperations } from './operations.ts';
import { Persister, PERSISTER_GROUP } from './persister.ts';

const logger = createLogger('test', { level: 'silent' });
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Starts a persister over the embedded log and store, with its operations server on a free port. */
async function startPersister() {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-persister-'));
  const log = await FileLog.open({ dir: join(dir, 'log'), logger });
  const sqlite = openSqlite(join(dir, 'switchboard.db'));
  const metrics = new SwitchboardMetrics({ processMetrics: false });
  const persister = new Persister({ log, store: sqlite.store, logger, metrics });
  await persister.start();
  const operations = await startPersisterOperations({
    persister,
    readLag: () => log.lag(PERSISTER_GROUP),
    storeProbe: new DependencyProbe({
      name: 'store',
      check: () => sqlite.store.maxSeq(READINESS_PROBE_CONVERSATION),
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
    await persister.stop();
    await log.close();
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { log, persister, operations };
}

async function scrape(url: string) {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

describe('persister operations', () => {
  it('counts applied records and samples the lag', async () => {
    const { log, persister, operations } = await startPersister();
    // With the consumer stopped the records stay uncommitted, so the gauge must show them.
    await persister.stop();
    await log.append([
      buildMessage('d.a.b', 1, 'a'),
      buildMessage('d.a.b', 2, 'a'),
      buildMessage('d.a.b', 3, 'b'),
    ]);
    await waitFor(
      async () => sumSamples(await scrape(operations.url), 'switchboard_persister_lag_records') === 3,
      'the lag gauge to show 3 records',
    );

    await persister.start();
    await waitFor(
      async () =>
        sumSamples(await scrape(operations.url), 'switchboard_persister_applied_records_total') === 3,
      'applied records to reach 3',
    );
    await waitFor(
      async () => sumSamples(await scrape(operations.url), 'switchboard_persister_lag_records') === 0,
      'the lag gauge to return to 0',
    );
  });

  it('is ready while the consumer runs and not after it stopped', async () => {
    const { persister, operations } = await startPersister();
    const ready = await fetch(`${operations.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as ReadinessReport).checks.map((check) => check.name)).toEqual([
      'consumer',
      'log',
      'store',
    ]);

    await persister.stop();
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
