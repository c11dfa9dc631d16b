import { describe, expect, it } from 'vitest';
import { runEntry } from '@switchboard/core/testing';
import { readRouterConfig } from './config.ts';

const SECRET = { SWB_TOKEN_SECRET: 'router-config-test-secret-0123456789abcdef' };

describe('readRouterConfig', () => {
  it('fills in the defaults', () => {
    const config = readRouterConfig(SECRET);
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(8081);
    expect(config.refreshMs).toBe(1000);
    expect(config.metricsPort).toBeNull();
    expect(config.cluster.redisUrl).toBe('redis://127.0.0.1:6390');
  });

  it('rejects a metrics port equal to the router port', () => {
    expect(() => readRouterConfig({ ...SECRET, SWB_ROUTER_PORT: '9000', SWB_METRICS_PORT: '9000' })).toThrow(
      'SWB_METRICS_PORT: must differ from SWB_ROUTER_PORT (9000)',
    );
  });
});

describe('router main', () => {
  it('exits 78 naming a bad port', async () => {
    const outcome = await runEntry('services/router/src/main.ts', { ...SECRET, SWB_ROUTER_PORT: '70000' });
    expect(outcome.code).toBe(78);
    expect(outcome.stderr).toContain(
      'router: invalid configuration: SWB_ROUTER_PORT: must be <= 65535, got 70000',
    );
  });

  it('exits 78 when the token secret is missing', async () => {
    const outcome = await runEntry('services/router/src/main.ts', {});
    expect(outcome.code).toBe(78);
    expect(outcome.stderr).toContain(
      'router: invalid configuration: SWB_TOKEN_SECRET: must be set to a secret of at least 32 bytes',
    );
  });
});
