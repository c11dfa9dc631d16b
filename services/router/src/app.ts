import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import {
  AuthError,
  type Bus,
  createLogger,
  ERROR_RESPONSE_SCHEMA,
  generateRequestId,
  handleClientError,
  type Logger,
  MembershipView,
  type ReadinessCondition,
  registerErrorHandler,
  type TokenIssuer,
} from '@switchboard/core';
import { ErrorCode } from '@switchboard/protocol';
import { RingEmptyError } from './errors.ts';

export interface RouterRoutesOptions {
  /** Started view of the chat nodes; the routes read its current ring. */
  membership: MembershipView;
  /** Verifies the access tokens of `GET /v1/route`. */
  tokens: TokenIssuer;
}

export interface RouterAppOptions extends RouterRoutesOptions {
  /** Logger of the service; a `router` logger from createLogger when left out. */
  logger?: Logger;
}

// An RFC 6750 bearer credential: the scheme, spaces, then a b64token, which may be absent.
const BEARER_PATTERN = /^Bearer(?: +([A-Za-z0-9\-._~+/]+=*))? *$/i;

const ROUTE_SCHEMA = {
  headers: {
    type: 'object',
    properties: { authorization: { type: 'string' } },
  },
  response: {
    200: {
      type: 'object',
      required: ['node', 'url', 'ringVersion'],
      properties: {
        node: { type: 'string' },
        url: { type: 'string' },
        ringVersion: { type: 'string' },
      },
    },
    '4xx': ERROR_RESPONSE_SCHEMA,
    '5xx': ERROR_RESPONSE_SCHEMA,
  },
} as const;

const RING_SCHEMA = {
  response: {
    200: {
      type: 'object',
      required: ['version', 'nodes'],
      properties: {
        version: { type: 'string' },
        nodes: {
          type: 'array',
          items: {
            type: 'object',
            required: ['id', 'url', 'weight'],
            properties: {
              id: { type: 'string' },
              url: { type: 'string' },
              weight: { type: 'number' },
            },
          },
        },
      },
    },
    '4xx': ERROR_RESPONSE_SCHEMA,
    '5xx': ERROR_RESPONSE_SCHEMA,
  },
} as const;

/**
 * Registers `GET /v1/route` and `GET /v1/ring` on a fastify instance.
 *
 * The host application calls `registerErrorHandler` on its root instance first, so that
 * errors thrown here respond with the Switchboard error body.
 */
export const routerRoutes: FastifyPluginAsync<RouterRoutesOptions> = async (app, options) => {
  const { membership, tokens } = options;

  app.get('/v1/route', { schema: ROUTE_SCHEMA }, async (request, reply) => {
    const token = readBearerToken(request.headers.authorization);
    const claims = await tokens.verifyAccess(token);

    // Both reads happen in the same tick, so the owner and the version come from one ring.
    const owner = membership.ownerOf(claims.sub);
    const ringVersion = membership.ring.version;
    if (owner === null) throw new RingEmptyError();

    // The owner changes with the ring, so no cache may store the response.
    void reply.header('cache-control', 'no-store');
    return { node: owner.id, url: owner.url, ringVersion };
  });

  app.get('/v1/ring', { schema: RING_SCHEMA }, async (_request, reply) => {
    const ring = membership.ring;
    void reply.header('cache-control', 'no-store');
    return {
      version: ring.version,
      nodes: ring.members.map((member) => ({ id: member.id, url: member.url, weight: member.weight })),
    };
  });
};

/** Creates the router's fastify application with its error handler, not listening yet. */
export function createRouterApp(options: RouterAppOptions): FastifyInstance {
  // Typed as fastify's base logger so that the instance is a plain FastifyInstance.
  const loggerInstance: FastifyBaseLogger = options.logger ?? createLogger('router');
  const app = Fastify({ loggerInstance, genReqId: generateRequestId, clientErrorHandler: handleClientError });
  registerErrorHandler(app);
  void app.register(routerRoutes, { membership: options.membership, tokens: options.tokens });
  return app;
}

export interface BuildRouterOptions {
  bus: Bus;
  tokens: TokenIssuer;
  logger?: Logger;
  /** Interval in milliseconds at which the membership is re-read, as in MembershipView. */
  refreshMs?: number;
}

/**
 * Starts a MembershipView on `bus` and creates the router application on it.
 *
 * Closing the application stops the view.
 */
export async function buildRouter(
  options: BuildRouterOptions,
): Promise<{ app: FastifyInstance; membership: MembershipView }> {
  const logger = options.logger ?? createLogger('router');
  const membership = new MembershipView({
    bus: options.bus,
    refreshMs: options.refreshMs,
    logger: logger.child({ component: 'membership' }),
  });
  await membership.start();

  const app = createRouterApp({ membership, tokens: options.tokens, logger });
  app.addHook('onClose', async () => membership.stop());
  return { app, membership };
}

/** Builds the readiness condition of a router: it cannot route while the ring is empty. */
export function buildRingCondition(membership: Pick<MembershipView, 'members'>): ReadinessCondition {
  return {
    name: 'ring',
    failure: () => (membership.members.length > 0 ? null : 'the ring is empty: no chat node is live'),
  };
}

/** Returns the token of a Bearer authorization header, or undefined when there is none. */
function readBearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return undefined;

  const match = BEARER_PATTERN.exec(header);
  if (match === null) {
    throw new AuthError(ErrorCode.AuthTokenInvalid, 'authorization header must be "Bearer <access token>"');
  }
  return match[1];
}
