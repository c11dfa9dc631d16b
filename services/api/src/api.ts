import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import {
  type Bus,
  ConfigError,
  createLogger,
  generateRequestId,
  type GroupService,
  handleClientError,
  type Logger,
  type PushRegistry,
  registerErrorHandler,
  type Store,
  type TokenIssuer,
} from '@switchboard/core';
import type { ApiContext } from './api-context.ts';
import { registerApiDocs } from './api-docs.ts';
import { registerAuthRoutes } from './auth-routes.ts';
import { buildAuthenticateHook } from './authenticate.ts';
import { registerBlockRoutes } from './block-routes.ts';
import { registerGroupRoutes } from './group-routes.ts';
import { registerConversationRoutes } from './conversation-routes.ts';
import { registerHistoryRoutes } from './history-routes.ts';
import { registerPushRoutes, type PushRoutesConfig } from './push-routes.ts';
import { buildValidatorCompiler } from './request-validation.ts';
import { API_BODY_LIMIT_BYTES } from './schemas.ts';
import { registerUserRoutes } from './user-routes.ts';

/** Default maximum of the history page size. */
export const HISTORY_PAGE_MAX_DEFAULT = 100;

export interface ApiRoutesOptions {
  store: Store;
  tokens: TokenIssuer;
  /** Largest history page a client may request, 100 by default. */
  historyPageMax?: number;
  /** Clock in milliseconds since the epoch, `Date.now` by default. Tests move it to expire tokens. */
  now?: () => number;
  /** Whether to serve the OpenAPI document at /docs/json and swagger-ui at /docs, true by default. */
  docs?: boolean;
  /** Whether to serve GET /healthz, true by default. Turn it off when the host app has its own. */
  healthRoute?: boolean;
  /**
   * Waits until the store holds everything already in the durable log, so that history and
   * the conversation list include every acknowledged message. Reads go ahead without it.
   */
  awaitPersisted?: () => Promise<unknown>;
  /** Group changes; the /v1/groups routes are served only when it is set. */
  groups?: GroupService;
  /** The bus, to tell chat nodes of block changes; without it a change waits for their 60 s cache. */
  bus?: Bus;
  /** Logger of failures the routes handle themselves; silent by default. */
  logger?: Logger;
  /** Push subscriptions and settings; the /v1/push routes are served only when it is set. */
  push?: { registry: PushRegistry; config: PushRoutesConfig };
}

export interface BuildApiOptions extends ApiRoutesOptions {
  logger: Logger;
}

const HEALTH_SCHEMA = {
  summary: 'Report that the process serves requests',
  tags: ['health'],
  response: {
    200: {
      description: 'The process serves requests.',
      type: 'object',
      required: ['status'],
      additionalProperties: false,
      properties: { status: { type: 'string', enum: ['ok'] } },
    },
  },
};

/**
 * Registers the HTTP API: auth, users, conversations, history, health and the OpenAPI docs.
 *
 * The plugin is encapsulated, so its validator compiler and body limits apply to its own
 * routes only and it can share an app with other route plugins. The host app calls
 * `registerErrorHandler(app)` on its root before registering this plugin. That handler turns
 * the plugin's errors into `{ error: { code, message, retryable } }` bodies, and fastify
 * allows one not-found handler per prefix, so the plugin cannot install it itself.
 */
export const apiRoutes: FastifyPluginAsync<ApiRoutesOptions> = async (app, options) => {
  const historyPageMax = options.historyPageMax ?? HISTORY_PAGE_MAX_DEFAULT;
  if (!Number.isSafeInteger(historyPageMax) || historyPageMax < 1) {
    throw new ConfigError('historyPageMax', `must be a positive integer, got ${historyPageMax}`);
  }
  const context: ApiContext = {
    store: options.store,
    tokens: options.tokens,
    now: options.now ?? Date.now,
    historyPageMax,
    awaitPersisted: options.awaitPersisted ?? (() => Promise.resolve()),
  };

  app.setValidatorCompiler(buildValidatorCompiler());
  if (options.docs ?? true) {
    await registerApiDocs(app);
  }

  if (options.healthRoute ?? true) {
    app.get('/healthz', { schema: HEALTH_SCHEMA }, async () => ({ status: 'ok' }));
  }
  await registerAuthRoutes(app, context);

  await app.register(async (authenticated) => {
    authenticated.addHook('onRequest', buildAuthenticateHook(context.tokens));
    registerUserRoutes(authenticated, context);
    registerConversationRoutes(authenticated, context);
    registerHistoryRoutes(authenticated, context);
    if (options.groups !== undefined) registerGroupRoutes(authenticated, options.groups);
    registerBlockRoutes(authenticated, {
      store: options.store,
      bus: options.bus,
      logger: options.logger ?? createLogger('api', { level: 'silent' }),
      now: context.now,
    });
    if (options.push !== undefined) {
      registerPushRoutes(authenticated, {
        registry: options.push.registry,
        store: options.store,
        config: options.push.config,
        now: context.now,
      });
    }
  });
};

/** Creates a fastify app that serves the API alone. The caller listens on it or injects into it. */
export function buildApi(options: BuildApiOptions): FastifyInstance {
  const { logger, ...routeOptions } = options;
  const loggerInstance: FastifyBaseLogger = logger;
  const app = Fastify({
    loggerInstance,
    bodyLimit: API_BODY_LIMIT_BYTES,
    genReqId: generateRequestId,
    clientErrorHandler: handleClientError,
  });

  registerErrorHandler(app);
  void app.register(apiRoutes, { ...routeOptions, logger });
  return app;
}
