import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '@switchboard/core';

/** Code of the worker thread: its own connection, a passive checkpoint every `intervalMs`. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message ? err.message : err) });
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface SqliteCheckpointerOptions {
  /** Path of the database file, whose write-ahead log the worker copies back. */
  path: string;
  /** Milliseconds between checkpoints. */
  intervalMs: number;
  logger: Logger;
}

/**
 * Copies the write-ahead log of a SQLite database back into the database file from a worker
 * thread, so that the thread that commits does not pay for checkpoints and their fsync.
 *
 * A passive checkpoint takes no lock that writers wait for. The connection that commits keeps a
 * high automatic checkpoint threshold as a backstop, in case the worker falls behind or stops.
 */
export class SqliteCheckpointer {
  readonly #worker: Worker;
  #stopped: Promise<void> | null = null;

  constructor(options: SqliteCheckpointerOptions) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, path: options.path, intervalMs: options.intervalMs },
    });
    // The worker must not keep a process alive that has nothing else to do.
    this.#worker.unref();
    this.#worker.on('message', (message: { error?: string }) => {
      options.logger.warn({ err: message.error, path: options.path }, 'sqlite checkpoint failed');
    });
    this.#worker.on('error', (err) => {
      options.logger.error({ err, path: options.path }, 'sqlite checkpoint worker failed');
    });
  }

  /** Stops the worker after it closed its connection; later calls return the same promise. */
  stop(): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      this.#worker.once('exit', () => resolve());
      this.#worker.postMessage('stop');
    });
    return this.#stopped;
  }
}
