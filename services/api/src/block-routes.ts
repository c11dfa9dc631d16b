import type { FastifyInstance } from 'fastify';
import { ErrorCode } from '@switchboard/protocol';
import { InvalidRequestError, NotFoundError, type Bus, type Logger, type Store } from '@switchboard/core';
import { callerId } from './authenticate.ts';
import {
  AUTHENTICATED_ERROR_RESPONSES,
  BEARER_SECURITY,
  BODY_ERROR_RESPONSES,
  ERROR_RESPONSES,
  ID_SCHEMA_PATTERN,
} from './schemas.ts';

export interface BlockRoutesOptions {
  store: Store;
  /** Tells the chat nodes of each change, so their cached block states and presence follow it. */
  bus?: Bus;
  logger: Logger;
  now: () => number;
}

const USER_PARAMS = {
  type: 'object',
  required: ['userId'],
  additionalProperties: false,
  properties: { userId: { type: 'string', pattern: ID_SCHEMA_PATTERN } },
} as const;

/**
 * Registers POST /v1/blocks, DELETE /v1/blocks/:userId and GET /v1/blocks, behind bearer
 * authentication.
 *
 * A blocked user's one-to-one messages to the blocker are accepted but never delivered, and
 * the blocker's presence is hidden from them.
 */
export function registerBlockRoutes(app: FastifyInstance, options: BlockRoutesOptions): void {
  const { store } = options;

  const announce = async (blocker: string, blocked: string): Promise<void> => {
    try {
      await options.bus?.publishEvent({ kind: 'block-changed', blocker, blocked });
    } catch (err) {
      // The block is stored; a node that misses the event applies it once its cached copy is 60 s old.
      options.logger.warn({ err, userId: blocker }, 'block change publish failed');
    }
  };

  app.post<{ Body: { userId: string } }>(
    '/v1/blocks',
    {
      schema: {
        summary: 'Block a user',
        description:
          'Their one-to-one messages to the caller are accepted but never delivered, and the ' +
          "caller's presence is hidden from them. Blocking twice changes nothing.",
        tags: ['blocks'],
        security: BEARER_SECURITY,
        body: {
          type: 'object',
          required: ['userId'],
          additionalProperties: false,
          properties: { userId: { type: 'string', pattern: ID_SCHEMA_PATTERN } },
        },
        response: {
          204: { type: 'null', description: 'The user is blocked.' },
          ...AUTHENTICATED_ERROR_RESPONSES,
          ...BODY_ERROR_RESPONSES,
          404: ERROR_RESPONSES[404],
        },
      },
    },
    async (request, reply) => {
      const caller = callerId(request);
      const { userId } = request.body;
      if (userId === caller) {
        throw new InvalidRequestError(
          ErrorCode.RequestInvalid,
          "userId is the caller's own id; a user cannot block themselves",
        );
      }
      if ((await store.getUser(userId)) === null) {
        throw new NotFoundError(ErrorCode.UserNotFound, `user "${userId}" does not exist`);
      }
      await store.blockUser(caller, userId, options.now());
      await announce(caller, userId);
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: { userId: string } }>(
    '/v1/blocks/:userId',
    {
      schema: {
        summary: 'Unblock a user',
        description: 'Messages sent while the block held stay undelivered.',
        tags: ['blocks'],
        security: BEARER_SECURITY,
        params: USER_PARAMS,
        response: {
          204: { type: 'null', description: 'The user is not blocked.' },
          ...AUTHENTICATED_ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const caller = callerId(request);
      await store.unblockUser(caller, request.params.userId);
      await announce(caller, request.params.userId);
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/blocks',
    {
      schema: {
        summary: 'List the users the caller blocks',
        tags: ['blocks'],
        security: BEARER_SECURITY,
        response: {
          200: {
            description: 'Ids of blocked users, in id order.',
            type: 'object',
            required: ['users'],
            additionalProperties: false,
            properties: { users: { type: 'array', items: { type: 'string' } } },
          },
          ...AUTHENTICATED_ERROR_RESPONSES,
        },
      },
    },
    async (request) => ({ users: await store.listBlocked(callerId(request)) }),
  );
}
