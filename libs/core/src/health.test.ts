import { describe, expect, it } from 'vitest';
import { DependencyProbe, Readiness } from './health.ts';
import { createLogger } from './logger.ts';

const logger = createLogger('test', { level: 'silent' });

/** Builds a probe whose check counts its calls and fails while `down` is set. */
function buildProbe(options: { freshMs?: number; timeoutMs?: number; now?: () => number } = {}) {
  const dependency = { down: false, hang: false, calls: 0 };
  const probe = new DependencyProbe({
    name: 'store',
    check: async () => {
      dependency.calls++;
      if (dependency.hang) await new Promise(() => undefined);
      if (dependency.down) throw new Error('connection refused');
    },
    logger,
    ...options,
  });
  return { probe, dependency };
}

describe('DependencyProbe', () => {
  it('runs the check when no outcome is known', async () => {
    const { probe, dependency } = buildProbe();
    expect(await probe.probe()).toEqual({ name: 'store', ok: true });
    expect(dependency.calls).toBe(1);
  });

  it('answers from a recent success without a round trip', async () => {
    let now = 1_000;
    const { probe, dependency } = buildProbe({ freshMs: 5000, now: () => now });
    probe.noteSuccess();
    now += 4_999;
    expect((await probe.probe()).ok).toBe(true);
    expect(dependency.calls).toBe(0);
  });

  it('checks again once the last outcome is stale', async () => {
    let now = 1_000;
    const { probe, dependency } = buildProbe({ freshMs: 5000, now: () => now });
    probe.noteSuccess();
    now += 5_000;
    dependency.down = true;
    const result = await probe.probe();
    expect(dependency.calls).toBe(1);
    expect(result).toEqual({ name: 'store', ok: false, error: 'connection refused' });
  });

  it('reports a noted failure until a success follows', async () => {
    const { probe, dependency } = buildProbe();
    probe.noteFailure(new Error('write timeout'));
    expect(await probe.probe()).toEqual({ name: 'store', ok: false, error: 'write timeout' });
    probe.noteSuccess();
    expect((await probe.probe()).ok).toBe(true);
    expect(dependency.calls).toBe(0);
  });

  it('fails a check that does not answer in time', async () => {
    const { probe, dependency } = buildProbe({ timeoutMs: 50 });
    dependency.hang = true;
    const result = await probe.probe();
    expect(result.ok).toBe(false);
    expect(result.error).toBe('check timed out after 50 ms');
  });

  it('shares one check between concurrent probes', async () => {
    const { probe, dependency } = buildProbe();
    const results = await Promise.all([probe.probe(), probe.probe(), probe.probe()]);
    expect(results.every((result) => result.ok)).toBe(true);
    expect(dependency.calls).toBe(1);
    expect(probe.checksRun).toBe(1);
  });
});

describe('Readiness', () => {
  it('is ready when every condition holds and every probe passes', async () => {
    const { probe } = buildProbe();
    const readiness = new Readiness({
      probes: [probe],
      conditions: [{ name: 'ring', failure: () => null }],
    });
    expect(await readiness.report()).toEqual({
      status: 'ready',
      checks: [
        { name: 'ring', ok: true },
        { name: 'store', ok: true },
      ],
    });
  });

  it('is not ready while a condition fails', async () => {
    let draining = false;
    const readiness = new Readiness();
    readiness.addCondition({ name: 'accepting', failure: () => (draining ? 'draining' : null) });
    expect((await readiness.report()).status).toBe('ready');
    draining = true;
    expect(await readiness.report()).toEqual({
      status: 'not ready',
      checks: [{ name: 'accepting', ok: false, error: 'draining' }],
    });
  });

  it('is not ready while a dependency is down', async () => {
    const { probe, dependency } = buildProbe({ freshMs: 0 });
    const readiness = new Readiness({ probes: [probe] });
    dependency.down = true;
    const report = await readiness.report();
    expect(report.status).toBe('not ready');
    expect(report.checks).toEqual([{ name: 'store', ok: false, error: 'connection refused' }]);
    expect(readiness.probe('store')).toBe(probe);
  });
});
