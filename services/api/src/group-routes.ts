import type { FastifyInstance } from 'fastify';
import { InvalidRequestError, type GroupService } from '@switchboard/core';
import { ErrorCode, type GroupKind } from '@switchboard/protocol';
import { callerId } from './authenticate.ts';
import {
  API_BODY_LIMIT_BYTES,
  AUTHENTICATED_ERROR_RESPONSES,
  BEARER_SECURITY,
  BODY_ERROR_RESPONSES,
  ERROR_RESPONSES,
  ID_SCHEMA_PATTERN,
  VISIBLE_NAME_PATTERN,
} from './schemas.ts';

/** Members listed in one group reply; `memberCount` gives the total. */
export const GROUP_MEMBERS_LISTED = 1000;

/** Users that one request may add, or name as founding members. */
export const GROUP_USERS_PER_REQUEST = 1000;

const NAME_SCHEMA = {
  type: 'string',
  minLength: 1,
  maxLength: 100,
  pattern: VISIBLE_NAME_PATTERN,
  description:
    'Group name: 1 to 100 characters with at least one visible one, and no control characters or bidirectional overrides.',
} as const;

const USER_IDS_SCHEMA = {
  type: 'array',
  maxItems: GROUP_USERS_PER_REQUEST,
  items: { type: 'string', pattern: ID_SCHEMA_PATTERN },
} as const;

const GROUP_SCHEMA = {
  type: 'object',
  required: ['id', 'conv', 'kind', 'name', 'createdBy', 'createdAt', 'memberCount', 'members'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', description: 'Group id.' },
    conv: { type: 'string', description: 'Conversation id of the group, `g.<id>`.' },
    kind: { type: 'string', enum: ['group', 'channel'], description: 'In a `channel` only admins post.' },
    name: { type: 'string' },
    createdBy: { type: 'string' },
    createdAt: { type: 'integer', description: 'Milliseconds since the epoch.' },
    memberCount: { type: 'integer' },
    members: {
      type: 'array',
      description: `Current members in user id order, at most ${GROUP_MEMBERS_LISTED}.`,
      items: {
        type: 'object',
        required: ['user', 'role', 'joinedSeq'],
        additionalProperties: false,
        properties: {
          user: { type: 'string' },
          role: { type: 'string', enum: ['admin', 'member'] },
          joinedSeq: {
            type: 'integer',
            description:
              'First sequence number the member may read: 0 for founders, else the event that added them.',
          },
        },
      },
    },
  },
} as const;

const GROUP_PARAMS = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', pattern: ID_SCHEMA_PATTERN } },
} as const;

const MEMBER_PARAMS = {
  type: 'object',
  required: ['id', 'userId'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: ID_SCHEMA_PATTERN },
    userId: { type: 'string', pattern: ID_SCHEMA_PATTERN },
  },
} as const;

const CHANGE_RESPONSES = {
  200: { ...GROUP_SCHEMA, description: 'The group after the change.' },
  ...AUTHENTICATED_ERROR_RESPONSES,
  403: { ...ERROR_RESPONSES[403], description: 'The caller is a member but not an admin.' },
  404: ERROR_RESPONSES[404],
};

interface CreateBody {
  name: string;
  kind?: GroupKind;
  members?: string[];
}

interface GroupParams {
  id: string;
}

interface MemberParams {
  id: string;
  userId: string;
}

function conversationOf(id: string): string {
  return `g.${id}`;
}

/**
 * Registers the group routes, behind bearer authentication.
 *
 * Every change is also a system message in the group, which members' devices receive through
 * their sync streams like any message.
 */
export function registerGroupRoutes(app: FastifyInstance, groups: GroupService): void {
  app.post<{ Body: CreateBody }>(
    '/v1/groups',
    {
      bodyLimit: API_BODY_LIMIT_BYTES * 4,
      schema: {
        summary: 'Create a group or channel',
        description: 'The caller becomes its first admin. Founding members read the group from its start.',
        tags: ['groups'],
        security: BEARER_SECURITY,
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: NAME_SCHEMA,
            kind: { type: 'string', enum: ['group', 'channel'], default: 'group' },
            members: { ...USER_IDS_SCHEMA, description: 'Founding members besides the caller.' },
          },
        },
        response: {
          201: { ...GROUP_SCHEMA, description: 'The new group.' },
          ...AUTHENTICATED_ERROR_RESPONSES,
          ...BODY_ERROR_RESPONSES,
          404: ERROR_RESPONSES[404],
        },
      },
    },
    async (request, reply) => {
      const { name, kind = 'group', members = [] } = request.body;
      const group = await groups.create(callerId(request), { name, kind, members }, GROUP_MEMBERS_LISTED);
      return reply.code(201).send(group);
    },
  );

  app.get<{ Params: GroupParams }>(
    '/v1/groups/:id',
    {
      schema: {
        summary: 'Get a group',
        tags: ['groups'],
        security: BEARER_SECURITY,
        params: GROUP_PARAMS,
        response: {
          200: { ...GROUP_SCHEMA, description: 'The group.' },
          ...AUTHENTICATED_ERROR_RESPONSES,
          404: ERROR_RESPONSES[404],
        },
      },
    },
    async (request) =>
      groups.describe(callerId(request), conversationOf(request.params.id), GROUP_MEMBERS_LISTED),
  );

  app.patch<{ Params: GroupParams; Body: { name: string } }>(
    '/v1/groups/:id',
    {
      schema: {
        summary: 'Rename a group',
        tags: ['groups'],
        security: BEARER_SECURITY,
        params: GROUP_PARAMS,
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: NAME_SCHEMA },
        },
        response: { ...CHANGE_RESPONSES, ...BODY_ERROR_RESPONSES },
      },
    },
    async (request) =>
      groups.rename(
        callerId(request),
        conversationOf(request.params.id),
        request.body.name,
        GROUP_MEMBERS_LISTED,
      ),
  );

  app.post<{ Params: GroupParams; Body: { userIds: string[] } }>(
    '/v1/groups/:id/members',
    {
      bodyLimit: API_BODY_LIMIT_BYTES * 4,
      schema: {
        summary: 'Add members to a group',
        description: 'Admins only. An added member reads the group from the event that added them.',
        tags: ['groups'],
        security: BEARER_SECURITY,
        params: GROUP_PARAMS,
        body: {
          type: 'object',
          required: ['userIds'],
          additionalProperties: false,
          properties: { userIds: { ...USER_IDS_SCHEMA, minItems: 1 } },
        },
        response: { ...CHANGE_RESPONSES, ...BODY_ERROR_RESPONSES },
      },
    },
    async (request) =>
      groups.addMembers(
        callerId(request),
        conversationOf(request.params.id),
        request.body.userIds,
        GROUP_MEMBERS_LISTED,
      ),
  );

  app.delete<{ Params: MemberParams }>(
    '/v1/groups/:id/members/:userId',
    {
      schema: {
        summary: 'Remove a member from a group',
        description:
          'Admins only. The removed member receives nothing sent after the removal. Callers ' +
          'leave with POST /v1/groups/:id/leave instead of removing themselves.',
        tags: ['groups'],
        security: BEARER_SECURITY,
        params: MEMBER_PARAMS,
        response: { ...CHANGE_RESPONSES, 400: ERROR_RESPONSES[400] },
      },
    },
    async (request) => {
      const caller = callerId(request);
      // Removing oneself would skip the admin handover of leave, so the last admin could leave
      // a group that nobody may change any more.
      if (request.params.userId === caller) {
        throw new InvalidRequestError(
          ErrorCode.RequestInvalid,
          'a caller cannot remove themselves; use POST /v1/groups/:id/leave',
        );
      }
      return groups.removeMember(
        caller,
        conversationOf(request.params.id),
        request.params.userId,
        GROUP_MEMBERS_LISTED,
      );
    },
  );

  app.patch<{ Params: MemberParams; Body: { role: 'admin' } }>(
    '/v1/groups/:id/members/:userId',
    {
      schema: {
        summary: 'Promote a member to admin',
        tags: ['groups'],
        security: BEARER_SECURITY,
        params: MEMBER_PARAMS,
        body: {
          type: 'object',
          required: ['role'],
          additionalProperties: false,
          properties: { role: { type: 'string', enum: ['admin'] } },
        },
        response: { ...CHANGE_RESPONSES, ...BODY_ERROR_RESPONSES },
      },
    },
    async (request) =>
      groups.promote(
        callerId(request),
        conversationOf(request.params.id),
        request.params.userId,
        GROUP_MEMBERS_LISTED,
      ),
  );

  app.post<{ Params: GroupParams }>(
    '/v1/groups/:id/leave',
    {
      schema: {
        summary: 'Leave a group',
        description: 'When the last admin leaves, the member who joined first becomes admin.',
        tags: ['groups'],
        security: BEARER_SECURITY,
        params: GROUP_PARAMS,
        response: {
          204: { type: 'null', description: 'The caller left the group.' },
          ...AUTHENTICATED_ERROR_RESPONSES,
          404: ERROR_RESPONSES[404],
        },
      },
    },
    async (request, reply) => {
      await groups.leave(callerId(request), conversationOf(request.params.id));
      return reply.code(204).send();
    },
  );
}
