import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '@switchboard/protocol';
import { openSqlite } from '@switchboard/embedded';
import { ConfigError, createLogger, registerErrorHandler, TokenIssuer } from '@switchboard/core';
import { apiRoutes, buildApi } from './api.ts';
import { errorOf, startTestApi, TEST_SECRET, type TestApi } from './test-support.ts';

interface OpenApiDocument {
  openapi: string;
  info: { title: string };
  paths: Record<string, Record<string, { security?: unknown[]; responses?: Record<string, unknown> }>>;
  components: { securitySchemes: Record<string, { type: string; scheme: string }> };
}

const API_OPERATIONS = [
  ['post', '/v1/auth/register'],
  ['post', '/v1/auth/login'],
  ['post', '/v1/auth/refresh'],
  ['get', '/v1/me'],
  ['get', '/v1/users'],
  ['get', '/v1/conversations'],
  ['post', '/v1/conversations/direct'],
  ['get', '/v1/conversations/{conv}/messages'],
  ['post', '/v1/groups'],
  ['get', '/v1/groups/{id}'],
  ['patch', '/v1/groups/{id}'],
  ['post', '/v1/groups/{id}/members'],
  ['delete', '/v1/groups/{id}/members/{userId}'],
  ['patch', '/v1/groups/{id}/members/{userId}'],
  ['post', '/v1/groups/{id}/leave'],
  ['post', '/v1/blocks'],
  ['get', '/v1/blocks'],
  ['delete', '/v1/blocks/{userId}'],
  ['get', '/v1/push/config'],
  ['post', '/v1/push/subscriptions'],
  ['get', '/v1/push/subscriptions'],
  ['delete', '/v1/push/subscriptions/{id}'],
  ['get', '/v1/push/settings'],
  ['put', '/v1/push/settings'],
  ['put', '/v1/push/mutes/{conv}'],
  ['delete', '/v1/push/mutes/{conv}'],
  ['get', '/healthz'],
] as const;

const PUBLIC_OPERATIONS = new Set(['/v1/auth/register', '/v1/auth/login', '/v1/auth/refresh', '/healthz']);

describe('API app', () => {
  let api: TestApi;

  beforeEach(async () => {
    api = await startTestApi();
  });

  afterEach(async () => {
    await api.close();
  });

  it('returns ok from /healthz', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/healthz' });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('serves an OpenAPI document listing every route', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/docs/json' });

    expect(response.statusCode).toBe(200);
    const document = response.json<OpenApiDocument>();
    expect(document.openapi).toMatch(/^3\./);
    expect(document.info.title).toBe('Switchboard API');
    for (const [method, path] of API_OPERATIONS) {
      expect(document.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
    expect(Object.keys(document.paths).sort()).toEqual(
      [...new Set(API_OPERATIONS.map(([, path]) => path))].sort(),
    );
  });

  it('marks the bearer routes with the bearer scheme', async () => {
    const document = (await api.app.inject({ method: 'GET', url: '/docs/json' })).json<OpenApiDocument>();

    expect(document.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const [method, path] of API_OPERATIONS) {
      const operation = document.paths[path]?.[method];
      if (PUBLIC_OPERATIONS.has(path)) {
        expect(operation?.security, `${method} ${path}`).toBeUndefined();
      } else {
        expect(operation?.security, `${method} ${path}`).toEqual([{ bearerAuth: [] }]);
      }
    }
  });

  it('documents a response schema for every route', async () => {
    const document = (await api.app.inject({ method: 'GET', url: '/docs/json' })).json<OpenApiDocument>();

    for (const [method, path] of API_OPERATIONS) {
      const responses = document.paths[path]?.[method]?.responses ?? {};
      const success = Object.keys(responses).filter((status) => status.startsWith('2'));
      expect(success, `${method} ${path}`).toHaveLength(1);
    }
  });

  it('serves swagger-ui at /docs', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/docs/' });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/text\/html/);
  });

  it('returns 404 for an unknown route', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/v1/nothing' });

    expect(response.statusCode).toBe(404);
    expect(errorOf(response).code).toBe(ErrorCode.NotFound);
  });

  it('rejects a history page maximum below 1', async () => {
    const sqlite = await openSqlite(':memory:');
    const app = buildApi({
      store: sqlite.store,
      tokens: new TokenIssuer({ secret: TEST_SECRET, accessTtlSeconds: 60, refreshTtlSeconds: 60 }),
      logger: createLogger('api', { level: 'silent' }),
      historyPageMax: 0,
    });

    await expect(app.ready()).rejects.toBeInstanceOf(ConfigError);
    await app.close();
    await sqlite.close();
  });
});

describe('apiRoutes in a host app', () => {
  it('shares a host app with other routes', async () => {
    const sqlite = await openSqlite(':memory:');
    const app = Fastify({ logger: false });
    registerErrorHandler(app);
    app.get('/healthz', async () => ({ status: 'host' }));
    app.post('/host/echo', async (request) => ({ echoed: request.body }));
    await app.register(apiRoutes, {
      store: sqlite.store,
      tokens: new TokenIssuer({ secret: TEST_SECRET, accessTtlSeconds: 60, refreshTtlSeconds: 60 }),
      docs: false,
      healthRoute: false,
    });

    try {
      const health = await app.inject({ method: 'GET', url: '/healthz' });
      const extraField = await app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { username: 'alice', password: 'secret-pw', admin: true },
      });
      const docs = await app.inject({ method: 'GET', url: '/docs/json' });

      expect(health.json()).toEqual({ status: 'host' });
      expect(extraField.statusCode).toBe(400);
      expect(errorOf(extraField).code).toBe(ErrorCode.RequestInvalid);
      expect(docs.statusCode).toBe(404);
    } finally {
      await app.close();
      await sqlite.close();
    }
  });
});
