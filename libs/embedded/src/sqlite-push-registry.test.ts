import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runPushRegistryContract } from '@switchboard/core/testing';
import { openSqlite } from './sqlite.ts';

runPushRegistryContract('SQLite in memory', async () => {
  const sqlite = openSqlite(':memory:');
  return { registry: sqlite.push, close: () => sqlite.close() };
});

runPushRegistryContract('SQLite file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'swb-push-'));
  const sqlite = openSqlite(join(dir, 'switchboard.db'));
  return {
    registry: sqlite.push,
    async close() {
      await sqlite.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

it('keeps push rows across a reopen of the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'swb-push-'));
  const path = join(dir, 'switchboard.db');
  try {
    const first = openSqlite(path);
    await first.push.addSubscription({ kind: 'fcm', token: 'token-1', id: 'f1', user: 'u1', createdAt: 1 });
    await first.push.setSettings('u1', { muted: true, previews: false, mutedConversations: ['g.a'] });
    await first.close();

    const second = openSqlite(path);
    expect(await second.push.listSubscriptions('u1')).toEqual([
      { kind: 'fcm', token: 'token-1', id: 'f1', user: 'u1', createdAt: 1 },
    ]);
    expect(await second.push.getSettings('u1')).toEqual({
      muted: true,
      previews: false,
      mutedConversations: ['g.a'],
    });
    await second.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
