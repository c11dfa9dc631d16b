import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileLog, openSqlite, type SqliteHandle } from '@switchboard/embedded';
import { createLogger } from './logger.ts';
import { Messenger } from './messenger.ts';
import type { LogRecord, Sequencer } from './ports/index.ts';

/** Sends of one user over real SQLite and a real file log, with one slow reservation. */
describe('Messenger send order', () => {
  let dir: string;
  let sqlite: SqliteHandle;
  let log: FileLog;
  let messenger: Messenger;
  const slowIds = new Set<string>();

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-send-order-'));
    sqlite = openSqlite(join(dir, 'db.sqlite'));
    log = await FileLog.open({ dir: join(dir, 'log') });
    const inner = sqlite.sequencer;
    // A reservation that waits, as one does behind a Redis failover or a counter re-seed.
    const sequencer: Sequencer = {
      reserve: async (request) => {
        if (slowIds.has(request.clientId)) await new Promise((resolve) => setTimeout(resolve, 50));
        return inner.reserve(request);
      },
      nextPositions: (users) => inner.nextPositions(users),
      streamHead: (user) => inner.streamHead(user),
      close: () => inner.close(),
    };
    messenger = new Messenger({
      store: sqlite.store,
      sequencer,
      log,
      logger: createLogger('test', { level: 'silent' }),
      persisterGroup: 'persister',
    });
    for (const id of ['alice', 'bob', 'carol']) {
      await sqlite.store.createUser({ id, username: id, displayName: id, passwordHash: 'x', createdAt: 1 });
    }
    slowIds.clear();
  });

  afterEach(async () => {
    await log.close();
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const readLog = async (count: number): Promise<LogRecord[]> => {
    const records: LogRecord[] = [];
    const consumer = await log.consume('reader', async (batch) => {
      records.push(...batch);
    });
    const deadline = Date.now() + 5000;
    while (records.length < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await consumer.stop();
    return records;
  };

  it('keeps concurrent sends in arrival order', async () => {
    await messenger.send('alice', { type: 'send', id: 'm-0', to: 'bob', body: 'first' });
    slowIds.add('m-1');

    const acks = await Promise.all(
      ['m-1', 'm-2', 'm-3'].map((id) => messenger.send('alice', { type: 'send', id, to: 'bob', body: id })),
    );

    expect(acks.map((accepted) => [accepted.ack.id, accepted.ack.seq])).toEqual([
      ['m-1', 2],
      ['m-2', 3],
      ['m-3', 4],
    ]);
    const records = await readLog(4);
    expect(records.map((record) => (record.kind === 'message' ? record.id : record.kind))).toEqual([
      'm-0',
      'm-1',
      'm-2',
      'm-3',
    ]);
  });

  it('releases the next send after a failure', async () => {
    await messenger.send('alice', { type: 'send', id: 'm-0', to: 'bob', body: 'first' });

    const results = await Promise.allSettled([
      messenger.send('alice', { type: 'send', id: 'm-1', to: 'alice', body: 'to myself' }),
      messenger.send('alice', { type: 'send', id: 'm-2', to: 'bob', body: 'second' }),
    ]);

    expect(results[0].status).toBe('rejected');
    expect(results[1].status).toBe('fulfilled');
    expect(results[1].status === 'fulfilled' ? results[1].value.ack.seq : null).toBe(2);
  });

  it('does not queue other users behind a slow send', async () => {
    await messenger.send('alice', { type: 'send', id: 'a-0', to: 'bob', body: 'hi' });
    await messenger.send('carol', { type: 'send', id: 'c-0', to: 'bob', body: 'hi' });
    slowIds.add('a-1');

    const settled: string[] = [];
    await Promise.all([
      messenger
        .send('alice', { type: 'send', id: 'a-1', to: 'bob', body: 'slow' })
        .then(() => settled.push('a-1')),
      messenger
        .send('carol', { type: 'send', id: 'c-1', to: 'bob', body: 'fast' })
        .then(() => settled.push('c-1')),
    ]);

    expect(settled).toEqual(['c-1', 'a-1']);
  });
});
