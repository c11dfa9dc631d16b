import { describe, expect, it } from 'vitest';
import { runEntry } from '@switchboard/core/testing';
import { readChatNodeConfig } from './service-config.ts';

const SECRET = { SWB_TOKEN_SECRET: 'chat-node-config-test-secret-0123456789ab' };

describe('readChatNodeConfig', () => {
  it('fills in the defaults', () => {
    const config = readChatNodeConfig({ ...SECRET, SWB_CHAT_PORT: '9005' });
    expect(config.port).toBe(9005);
    expect(config.nodeId).toMatch(/-9005$/);
    expect(config.publicUrl).toBeNull();
    expect(config.heartbeatIntervalMs).toBe(1000);
    expect(config.heartbeatTtlMs).toBe(3000);
    expect(config.policy.drainWindowMs).toBe(2000);
    expect(config.metricsPort).toBeNull();
  });

  it('rejects a heartbeat TTL not above the interval', () => {
    expect(() =>
      readChatNodeConfig({ ...SECRET, SWB_HEARTBEAT_INTERVAL_MS: '1000', SWB_HEARTBEAT_TTL_MS: '1000' }),
    ).toThrow('SWB_HEARTBEAT_TTL_MS: must be above SWB_HEARTBEAT_INTERVAL_MS (1000), got 1000');
  });

  it('keeps a public URL of the WebSocket scheme', () => {
    const config = readChatNodeConfig({ ...SECRET, SWB_PUBLIC_URL: 'wss://node-1.chat.example.com/ws' });
    expect(config.publicUrl).toBe('wss://node-1.chat.example.com/ws');
  });
});

describe('chat node main', () => {
  it('exits 78 naming a public URL of the wrong scheme', async () => {
    const outcome = await runEntry('services/chat-node/src/main.ts', {
      ...SECRET,
      SWB_PUBLIC_URL: 'http://node-1.example.com/ws',
    });
    expect(outcome.code).toBe(78);
    expect(outcome.stderr).toContain(
      'chat-node: invalid configuration: SWB_PUBLIC_URL: expected a ws:// or wss:// URL, got "http://node-1.example.com/ws"',
    );
  });

  it('exits 78 naming a drain window that is not a number', async () => {
    const outcome = await runEntry('services/chat-node/src/main.ts', {
      ...SECRET,
      SWB_DRAIN_WINDOW_MS: '2s',
    });
    expect(outcome.code).toBe(78);
    expect(outcome.stderr).toContain(
      'chat-node: invalid configuration: SWB_DRAIN_WINDOW_MS: expected an integer, got "2s"',
    );
  });
});
