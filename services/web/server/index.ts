export { registerWebClient } from './serve-web-client.ts';
export {
  buildWebClient,
  DEFAULT_WEB_DIST_DIR,
  ensureWebClientBuilt,
  findStaleReason,
  WEB_PACKAGE_DIR,
  type BuildLogger,
} from './web-build.ts';
