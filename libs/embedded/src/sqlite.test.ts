import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '@switchboard/core';
import { buildMessage, runSequencerContract, runStoreContract, waitFor } from '@switchboard/core/testing';
import { ErrorCode } from '@switchboard/protocol';
import { SCHEMA_VERSION } from './sqlite-schema.ts';
import { openSqlite, type SqliteHandle } from './sqlite.ts';

const openInMemory = async () => openSqlite(':memory:');

const openInFile = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'swb-sqlite-'));
  const sqlite = openSqlite(join(dir, 'switchboard.db'));
  return {
    store: sqlite.store,
    sequencer: sqlite.sequencer,
    async close() {
      await sqlite.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

runStoreContract('SQLite in memory', openInMemory);
runStoreContract('SQLite file', openInFile);
runSequencerContract('SQLite in memory', openInMemory);
runSequencerContract('SQLite file', openInFile);

describe('openSqlite', () => {
  let dir: string;
  let path: string;
  const handles: SqliteHandle[] = [];

  const open = (options?: Parameters<typeof openSqlite>[1]): SqliteHandle => {
    const handle = openSqlite(path, options);
    handles.push(handle);
    return handle;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swb-sqlite-'));
    path = join(dir, 'switchboard.db');
  });

  afterEach(async () => {
    for (const handle of handles.splice(0)) await handle.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps data and counters across reopen', async () => {
    const first = open();
    await first.store.createUser({
      id: 'alice',
      username: 'alice',
      displayName: 'Alice',
      passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
      createdAt: 1,
    });
    await first.store.ensureDirectConversation('d.alice.bob', ['alice', 'bob'], 1);
    const reserved = await first.sequencer.reserve({
      sender: 'alice',
      clientId: 'c-1',
      conv: 'd.alice.bob',
      targets: ['bob'],
      now: 10,
    });
    await first.store.applyRecords([
      buildMessage('d.alice.bob', reserved.seq, 'alice', [{ user: 'bob', pos: reserved.positions[0]!.pos }]),
    ]);
    await first.close();

    const second = open();
    const retry = await second.sequencer.reserve({
      sender: 'alice',
      clientId: 'c-1',
      conv: 'd.alice.bob',
      targets: ['bob'],
      now: 20,
    });
    const next = await second.sequencer.reserve({
      sender: 'alice',
      clientId: 'c-2',
      conv: 'd.alice.bob',
      targets: ['bob'],
      now: 30,
    });

    expect((await second.store.findUserByName('Alice'))?.id).toBe('alice');
    expect((await second.store.history('d.alice.bob', { afterSeq: 0, limit: 10 })).map((m) => m.seq)).toEqual(
      [reserved.seq],
    );
    expect(retry).toEqual({ ...reserved, existing: true });
    expect(next.seq).toBe(reserved.seq + 1);
    expect(next.positions[0]!.pos).toBe(reserved.positions[0]!.pos + 1);
  });

  it('never goes back when the stored counters were lost', async () => {
    const sqlite = open();
    await sqlite.store.ensureDirectConversation('d.alice.bob', ['alice', 'bob'], 1);
    await sqlite.store.applyRecords([buildMessage('d.alice.bob', 9, 'alice', [{ user: 'bob', pos: 5 }])]);
    const raw = new Database(path);
    raw.exec('UPDATE conversations SET last_seq = 0; DELETE FROM stream_heads; DELETE FROM reservations;');
    raw.close();

    const reservation = await sqlite.sequencer.reserve({
      sender: 'alice',
      clientId: 'c-1',
      conv: 'd.alice.bob',
      targets: ['bob'],
      now: 10,
    });

    expect(reservation.seq).toBe(10);
    expect(reservation.positions).toEqual([{ user: 'bob', pos: 6 }]);
    expect(await sqlite.sequencer.streamHead('bob')).toBe(6);
  });

  it('raises counters to the highest record of a batch', async () => {
    const sqlite = open();
    await sqlite.store.applyRecords([
      buildMessage('d.alice.bob', 3, 'alice', [{ user: 'bob', pos: 7 }]),
      buildMessage('d.alice.bob', 1, 'alice', [{ user: 'bob', pos: 5 }]),
      buildMessage('d.alice.bob', 2, 'alice', [{ user: 'bob', pos: 6 }]),
    ]);
    const raw = new Database(path, { readonly: true });
    const lastSeq = raw.prepare("SELECT last_seq AS value FROM conversations WHERE id = 'd.alice.bob'").get();
    const head = raw.prepare("SELECT head AS value FROM stream_heads WHERE user = 'bob'").get();
    const members = raw.prepare("SELECT COUNT(*) AS value FROM members WHERE conv = 'd.alice.bob'").get();
    raw.close();

    expect(lastSeq).toEqual({ value: 3 });
    expect(head).toEqual({ value: 7 });
    expect(members).toEqual({ value: 2 });
  });

  it('rejects a reserve in an unknown conversation', async () => {
    const sqlite = open();

    const reserve = sqlite.sequencer.reserve({
      sender: 'alice',
      clientId: 'c-1',
      conv: 'g.unknown',
      targets: ['alice'],
      now: 10,
    });

    await expect(reserve).rejects.toBeInstanceOf(NotFoundError);
    await expect(reserve).rejects.toMatchObject({ code: ErrorCode.ConversationNotFound });
  });

  it('settles each reserve of a burst on its own', async () => {
    const sqlite = open();
    await sqlite.store.ensureDirectConversation('d.alice.bob', ['alice', 'bob'], 1);
    const request = { sender: 'alice', conv: 'd.alice.bob', targets: ['bob'], now: 10 };

    const outcomes = await Promise.allSettled([
      sqlite.sequencer.reserve({ ...request, clientId: 'c-1' }),
      sqlite.sequencer.reserve({ ...request, clientId: 'c-2', conv: 'g.unknown' }),
      sqlite.sequencer.reserve({ ...request, clientId: 'c-3' }),
      sqlite.sequencer.reserve({ ...request, clientId: 'c-1' }),
      sqlite.sequencer.reserve({ ...request, clientId: 'c-3', conv: 'd.alice.carol' }),
    ]);

    const [first, unknown, third, retry, conflict] = outcomes;
    expect(first).toMatchObject({ status: 'fulfilled', value: { seq: 1, existing: false } });
    expect(unknown).toMatchObject({ status: 'rejected', reason: { code: ErrorCode.ConversationNotFound } });
    expect(third).toMatchObject({ status: 'fulfilled', value: { seq: 2, existing: false } });
    expect(retry).toMatchObject({ status: 'fulfilled', value: { seq: 1, existing: true } });
    expect(conflict).toMatchObject({ status: 'rejected', reason: { code: ErrorCode.IdConflict } });
    expect(await sqlite.sequencer.streamHead('bob')).toBe(2);
  });

  it('commits a burst of reserves once', async () => {
    const sqlite = open();
    await sqlite.store.ensureDirectConversation('d.alice.bob', ['alice', 'bob'], 1);
    const request = { sender: 'alice', conv: 'd.alice.bob', targets: ['bob'], now: 10 };
    const walBytes = () => statSync(`${path}-wal`).size;

    const beforeOneByOne = walBytes();
    for (let i = 0; i < 20; i++) await sqlite.sequencer.reserve({ ...request, clientId: `one-${i}` });
    const oneByOne = walBytes() - beforeOneByOne;
    const beforeBurst = walBytes();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => sqlite.sequencer.reserve({ ...request, clientId: `burst-${i}` })),
    );
    const burst = walBytes() - beforeBurst;

    // Each commit appends the pages it changed to the write-ahead log.
    expect(burst).toBeGreaterThan(0);
    expect(burst).toBeLessThan(oneByOne / 4);
  });

  it('forgets reservations older than the TTL', async () => {
    const sqlite = open({ reservationTtlMs: 1_000 });
    await sqlite.store.ensureDirectConversation('d.alice.bob', ['alice', 'bob'], 1);
    const request = { sender: 'alice', conv: 'd.alice.bob', targets: ['bob'] };
    const first = await sqlite.sequencer.reserve({ ...request, clientId: 'c-1', now: 1_000 });

    await sqlite.sequencer.reserve({ ...request, clientId: 'c-2', now: 2_500 });
    const late = await sqlite.sequencer.reserve({ ...request, clientId: 'c-1', now: 2_600 });

    expect(late.existing).toBe(false);
    expect(late.seq).toBeGreaterThan(first.seq);
  });

  it('checkpoints the log from a worker thread', async () => {
    const sqlite = open({ checkpointIntervalMs: 20 });
    await sqlite.store.ensureDirectConversation('d.alice.bob', ['alice', 'bob'], 1);
    const request = { sender: 'alice', conv: 'd.alice.bob', targets: ['bob'], now: 10 };
    const databaseBytes = () => statSync(path).size;
    const before = databaseBytes();

    for (let i = 0; i < 200; i++) {
      await sqlite.store.applyRecords([
        buildMessage('d.alice.bob', i + 1, 'alice', [], { body: 'x'.repeat(500) }),
      ]);
    }
    await sqlite.sequencer.reserve({ ...request, clientId: 'c-1' });

    // Far below the automatic threshold, so only the worker copies the pages into the file.
    await waitFor(() => databaseBytes() > before + 100_000, 'the database file to grow');
    expect(databaseBytes()).toBeGreaterThan(before);
  });

  it('rejects a negative checkpoint interval', () => {
    expect(() => openSqlite(path, { checkpointIntervalMs: -1 })).toThrow(/checkpointIntervalMs/);
  });

  it('records the schema version', async () => {
    open();
    const raw = new Database(path, { readonly: true });
    const version = raw.pragma('user_version', { simple: true });
    raw.close();

    expect(version).toBe(SCHEMA_VERSION);
  });

  it('rejects a database from a newer schema', async () => {
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();

    expect(() => openSqlite(path)).toThrow(/newer than/);
  });

  it('rejects a history query with both cursors', async () => {
    const sqlite = open();

    await expect(
      sqlite.store.history('d.alice.bob', { beforeSeq: 5, afterSeq: 1, limit: 10 }),
    ).rejects.toMatchObject({ code: ErrorCode.RequestInvalid });
  });

  it('closes the database once the store and the sequencer are closed', async () => {
    const sqlite = open();
    await sqlite.store.close();
    expect(await sqlite.sequencer.streamHead('alice')).toBe(0);

    await sqlite.sequencer.close();

    await expect(sqlite.sequencer.streamHead('alice')).rejects.toThrow(/not open/);
  });
});
