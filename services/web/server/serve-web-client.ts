import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Path prefix of the bundle's files; their names carry a content hash, so they never change. */
const HASHED_ASSETS = '/assets/';

/**
 * Serves the built web client from `distDir` at `/` on the API's fastify app.
 *
 * The files are listed once at registration (`wildcard: false`), so there is no catch-all
 * route: unknown paths, `/v1/...` included, still get the API's JSON 404, and the API and
 * `/docs` routes are untouched. The app routes in the URL fragment, so only `/` serves
 * `index.html`.
 */
export async function registerWebClient(app: FastifyInstance, distDir: string): Promise<void> {
  if (!existsSync(join(distDir, 'index.html'))) {
    throw new Error(`the web client build in ${distDir} has no index.html; run the build first`);
  }
  await app.register(fastifyStatic, {
    root: distDir,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    // swagger-ui registers @fastify/static as well and owns reply.sendFile.
    decorateReply: false,
    cacheControl: false,
    setHeaders(response, path) {
      const hashed = path.replaceAll('\\', '/').includes(HASHED_ASSETS);
      response.setHeader('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      response.setHeader('x-content-type-options', 'nosniff');
    },
  });
}
