import { createServer } from 'node:net';
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

  it('exits 1 naming a port that another process holds', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const outcome = await runEntry('services/launcher/src/main.ts', {
        SWB_HTTP_PORT: '0',
        SWB_CHAT_NODES: '1',
        SWB_CHAT_PORT_BASE: String(port),
      });
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain(`switchboard: port ${port} on 127.0.0.1 is in use`);
      expect(outcome.stderr).toContain('SWB_CHAT_PORT_BASE');
      expect(outcome.stderr).not.toContain('    at ');
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
