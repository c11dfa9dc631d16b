import { describe, expect, it } from 'vitest';
import { runEntry } from '@switchboard/core/testing';
import { readEmbeddedConfig } from './config.ts';

describe('readEmbeddedConfig', () => {
  it('fills in the defaults of the embedded profile', () => {
    const config = readEmbeddedConfig({});
    expect(config.dataDir).toBe('.data/embedded');
    expect(config.httpPort).toBe(8080);
    expect(config.chatNodes).toBe(2);
    expect(config.chatPortBase).toBe(9001);
    expect(config.tokenSecret).toBeNull();
    expect(config.lagIntervalMs).toBe(5000);
  });

  it('rejects a short token secret', () => {
    expect(() => readEmbeddedConfig({ SWB_TOKEN_SECRET: 'short' })).toThrow(
      'SWB_TOKEN_SECRET: expected a secret of at least 32 bytes',
    );
  });
});

describe('embedded main', () => {
  it('exits 78 naming a bad number of chat nodes', async () => {
    const outcome = await runEntry('services/launcher/src/main.ts', { SWB_CHAT_NODES: '0' });
    expect(outcome.code).toBe(78);
    expect(outcome.stderr).toContain(
      'switchboard: invalid configuration: SWB_CHAT_NODES: must be >= 1, got 0',
    );
  });
});
