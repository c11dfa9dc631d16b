import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError, createLogger, type Logger } from '@switchboard/core';
import { SqliteCheckpointer } from './sqlite-checkpointer.ts';
import { migrate } from './sqlite-schema.ts';
import { SqlitePushRegistry } from './sqlite-push-registry.ts';
import { SqliteSequencer, type SqliteSequencerOptions } from './sqlite-sequencer.ts';
import { SqliteStore } from './sqlite-store.ts';

export { SqliteStore } from './sqlite-store.ts';
export { SqlitePushRegistry } from './sqlite-push-registry.ts';
export { SqliteSequencer, type SqliteSequencerOptions } from './sqlite-sequencer.ts';

export interface SqliteOptions extends SqliteSequencerOptions {
  /**
   * Milliseconds between checkpoints of the write-ahead log, made by a worker thread; default 100.
   * 0 leaves checkpoints to SQLite, which makes them in the committing thread.
   */
  checkpointIntervalMs?: number;
  logger?: Logger;
}

/** Pages in the write-ahead log past which a commit checkpoints itself while a worker checkpoints too. */
const BACKSTOP_CHECKPOINT_PAGES = 20_000;

/** A store and a sequencer over one SQLite database. */
export interface SqliteHandle {
  store: SqliteStore;
  sequencer: SqliteSequencer;
  /** Push subscriptions and settings, in the same database; they stop working when it closes. */
  push: SqlitePushRegistry;
  /** Closes the database; the store and the sequencer stop working. */
  close(): Promise<void>;
}

/**
 * Opens (or creates) the SQLite database at `path`, and its directory, and migrates its schema.
 *
 * `:memory:` gives a private in-memory database, for tests. The database is closed when
 * `close()` is called, or once both the store and the sequencer were closed.
 */
export function openSqlite(path: string, options: SqliteOptions = {}): SqliteHandle {
  if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    // NOTE: NORMAL syncs the WAL at checkpoints, not at each commit, which keeps a reserve
    // off the disk's sync latency. A killed process loses nothing, but a power cut can lose
    // the last commits, counters included, and then a sequence number could be reused.
    db.pragma('synchronous = NORMAL');
    // A writer waits up to 5 s for another process's transaction on the same file instead of
    // failing at once with SQLITE_BUSY.
    db.pragma('busy_timeout = 5000');
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }

  const intervalMs = options.checkpointIntervalMs ?? 100;
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 0) {
    db.close();
    throw new ConfigError(
      'checkpointIntervalMs',
      `expected a non-negative integer, got ${String(intervalMs)}`,
    );
  }
  let checkpointer: SqliteCheckpointer | null = null;
  if (db.memory === false && intervalMs > 0) {
    db.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
    checkpointer = new SqliteCheckpointer({
      path: db.name,
      intervalMs,
      logger: options.logger ?? createLogger('sqlite'),
    });
  }
  const closeDatabase = (): void => {
    void checkpointer?.stop();
    if (db.open) db.close();
  };

  let open = 2;
  const release = (): void => {
    open -= 1;
    if (open === 0) closeDatabase();
  };
  return {
    store: new SqliteStore(db, release),
    sequencer: new SqliteSequencer(db, release, options),
    push: new SqlitePushRegistry(db),
    async close() {
      closeDatabase();
      await checkpointer?.stop();
    },
  };
}
