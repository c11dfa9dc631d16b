export {
  DEFAULT_PUSH_WORKER_SETTINGS,
  PUSH_WORKER_GROUP,
  PushWorker,
  type DropReason,
  type PushWorkerOptions,
  type PushWorkerSettings,
} from './push-worker.ts';
export {
  readProvidersConfig,
  readPushWorkerConfig,
  readPushWorkerSettings,
  type PushWorkerConfig,
} from './config.ts';
export { createConfiguredProviders } from './providers.ts';
export { startPushWorkerOperations, type PushWorkerOperationsOptions } from './operations.ts';
export { buildNotification, collapseKeyOf } from './notification.ts';
export type { PushProvidersConfig } from '@switchboard/push';
