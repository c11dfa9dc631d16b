export { InProcessBus, type InProcessBusOptions } from './in-process-bus.ts';
export { FileLog, type FileLogOptions } from './file-log.ts';
export {
  openSqlite,
  SqliteStore,
  SqlitePushRegistry,
  SqliteSequencer,
  type SqliteHandle,
  type SqliteOptions,
  type SqliteSequencerOptions,
} from './sqlite.ts';
export { openPushLogs, PUSH_DEAD_DIR, PUSH_JOBS_DIR, type PushLogs } from './push-logs.ts';
