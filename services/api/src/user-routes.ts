import type { FastifyInstance } from 'fastify';
import { ErrorCode } from '@switchboard/protocol';
import { NotFoundError } from '@switchboard/core';
import type { ApiContext } from './api-context.ts';
import { callerId } from './authenticate.ts';
import {
  AUTHENTICATED_ERROR_RESPONSES,
  BEARER_SECURITY,
  ERROR_RESPONSES,
  USER_SCHEMA,
  USERNAME_SCHEMA,
} from './schemas.ts';
import { toPublicUser } from './user-records.ts';

const SEARCH_LIMIT_DEFAULT = 20;
const SEARCH_LIMIT_MAX = 50;

interface SearchQuery {
  prefix?: string;
  limit?: number;
}

const ME_SCHEMA = {
  summary: 'Get the authenticated user',
  tags: ['users'],
  security: BEARER_SECURITY,
  response: {
    200: { ...USER_SCHEMA, description: 'The authenticated user.' },
    ...AUTHENTICATED_ERROR_RESPONSES,
    404: ERROR_RESPONSES[404],
  },
};

const SEARCH_SCHEMA = {
  summary: 'List users whose name starts with a prefix',
  tags: ['users'],
  security: BEARER_SECURITY,
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      prefix: {
        type: 'string',
        maxLength: USERNAME_SCHEMA.maxLength,
        pattern: '^[A-Za-z0-9_.-]*$',
        default: '',
        description: 'Start of the user name, case-insensitive. An empty prefix lists every user.',
      },
      limit: { type: 'integer', minimum: 1, maximum: SEARCH_LIMIT_MAX, default: SEARCH_LIMIT_DEFAULT },
    },
  },
  response: {
    200: {
      description: 'Matching users, ordered by user name.',
      type: 'object',
      required: ['users'],
      additionalProperties: false,
      properties: { users: { type: 'array', items: USER_SCHEMA } },
    },
    ...AUTHENTICATED_ERROR_RESPONSES,
  },
};

/** Registers GET /v1/me and GET /v1/users, behind bearer authentication. */
export function registerUserRoutes(app: FastifyInstance, context: ApiContext): void {
  const { store } = context;

  app.get('/v1/me', { schema: ME_SCHEMA }, async (request) => {
    const id = callerId(request);
    const user = await store.getUser(id);
    if (user === null) {
      throw new NotFoundError(ErrorCode.UserNotFound, `user "${id}" of the access token does not exist`);
    }

    return toPublicUser(user);
  });

  app.get<{ Querystring: SearchQuery }>('/v1/users', { schema: SEARCH_SCHEMA }, async (request) => {
    const prefix = (request.query.prefix ?? '').toLowerCase();
    const limit = request.query.limit ?? SEARCH_LIMIT_DEFAULT;

    const users = await store.searchUsers(prefix, limit);
    return { users: users.map(toPublicUser) };
  });
}
