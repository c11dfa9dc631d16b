export {
  apiRoutes,
  buildApi,
  HISTORY_PAGE_MAX_DEFAULT,
  type ApiRoutesOptions,
  type BuildApiOptions,
} from './api.ts';
export { API_DOCS_PREFIX, registerApiDocs } from './api-docs.ts';
export type { AuthSession } from './auth-routes.ts';
export {
  decodeCursor,
  encodeCursor,
  MAX_CURSOR_LENGTH,
  type HistoryCursor,
  type HistoryDirection,
} from './cursor.ts';
export { HISTORY_PAGE_DEFAULT } from './history-routes.ts';
export { API_BODY_LIMIT_BYTES } from './schemas.ts';
export type { PublicUser } from './user-records.ts';
export { readPushRoutesConfig } from './config.ts';
export {
  DEFAULT_MAX_MUTED_CONVERSATIONS,
  DEFAULT_MAX_PUSH_SUBSCRIPTIONS,
  registerPushRoutes,
  type PushRoutesConfig,
} from './push-routes.ts';
