export { InProcessBus, type InProcessBusOptions } from './in-process-bus.ts';
export { FileLog, type FileLogOptions } from './file-log.ts';
export {
  openSqlite,
  SqliteStore,
  SqliteSequencer,
  type SqliteHandle,
  type SqliteOptions,
  type SqliteSequencerOptions,
} from './sqlite.ts';
