import { describe, expect, it } from 'vitest';
import { runEntry } from '@switchboard/core/testing';
import { readApiConfig } from './config.ts';

const SECRET = { SWB_TOKEN_SECRET: 'api-config-test-secret-0123456789abcdefgh' };

describe('readApiConfig', () => {
  it('fills in the defaults', () => {
    const config = readApiConfig(SECRET);
    expect(config.port).toBe(8080);
    expect(config.accessTtlSeconds).toBe(900);
    expect(config.refreshTtlSeconds).toBe(2_592_000);
    expect(config.persistWaitMs).toBe(2000);
    expect(config.metricsPort).toBeNull();
  });
});

describe('api main', () => {
  it('exits 78 naming a value that is not an integer', async () => {
    const outcome = await runEntry('services/api/src/main.ts', { ...SECRET, SWB_PERSIST_WAIT_MS: 'soon' });
    expect(outcome.code).toBe(78);
    expect(outcome.stderr).toContain(
      'api: invalid configuration: SWB_PERSIST_WAIT_MS: expected an integer, got "soon"',
    );
  });

  it('exits 78 naming a bad log level', async () => {
    const outcome = await runEntry('services/api/src/main.ts', { ...SECRET, SWB_LOG_LEVEL: 'loud' });
    expect(outcome.code).toBe(78);
    expect(outcome.stderr).toContain(
      'api: invalid configuration: SWB_LOG_LEVEL: expected one of trace, debug',
    );
  });
});
