import { createRequire } from 'node:module';
import type * as Uws from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, WebSocket } from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/**
 * Loads the native uWebSockets.js build for this platform and Node ABI.
 *
 * The package's own entry point silently falls back to a pure-JS server that is far slower
 * and behaves differently under load; loading the binary directly makes that a start-up error.
 */
function loadNative(): typeof Uws {
  const binary = `uWebSockets.js/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    return require(binary) as typeof Uws;
  } catch (err) {
    throw new Error(
      `the native uWebSockets.js build ${binary} did not load on Node ${process.version}; ` +
        'Switchboard refuses the pure-JS fallback. Use Node 20 on glibc x64 or arm64.',
      { cause: err },
    );
  }
}

export const uws = loadNative();
