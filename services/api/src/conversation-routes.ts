import type { FastifyInstance } from 'fastify';
import { buildDirectConversationId, directMembers, ErrorCode } from '@switchboard/protocol';
import {
  InvalidRequestError,
  NotFoundError,
  type ConversationSummary,
  type UserRecord,
} from '@switchboard/core';
import type { ApiContext } from './api-context.ts';
import { callerId } from './authenticate.ts';
import {
  API_BODY_LIMIT_BYTES,
  AUTHENTICATED_ERROR_RESPONSES,
  BEARER_SECURITY,
  BODY_ERROR_RESPONSES,
  ERROR_RESPONSES,
  ID_SCHEMA_PATTERN,
  MESSAGE_SCHEMA,
} from './schemas.ts';

interface DirectBody {
  userId: string;
}

const MEMBER_SCHEMA = {
  type: 'object',
  required: ['id', 'username', 'displayName', 'deliveredSeq', 'readSeq'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    username: { type: 'string' },
    displayName: { type: 'string' },
    deliveredSeq: { type: 'integer', description: 'Every message up to this number reached the member.' },
    readSeq: { type: 'integer', description: 'The member has read every message up to this number.' },
  },
} as const;

const LIST_SCHEMA = {
  summary: "List the caller's conversations",
  tags: ['conversations'],
  security: BEARER_SECURITY,
  response: {
    200: {
      description: "The caller's conversations.",
      type: 'object',
      required: ['conversations'],
      additionalProperties: false,
      properties: {
        conversations: {
          type: 'array',
          items: {
            type: 'object',
            required: ['id', 'kind', 'members', 'lastMessage', 'unread'],
            additionalProperties: false,
            properties: {
              id: { type: 'string' },
              kind: { type: 'string', enum: ['direct', 'group'] },
              members: { type: 'array', items: MEMBER_SCHEMA },
              lastMessage: { ...MESSAGE_SCHEMA, type: ['object', 'null'] },
              unread: {
                type: 'integer',
                description: "Messages from other members after the caller's read watermark.",
              },
              group: {
                type: 'object',
                description: 'Name and kind of a group; absent for one-to-one conversations.',
                required: ['name', 'kind'],
                additionalProperties: false,
                properties: {
                  name: { type: 'string' },
                  kind: { type: 'string', enum: ['group', 'channel'] },
                },
              },
            },
          },
        },
      },
    },
    ...AUTHENTICATED_ERROR_RESPONSES,
  },
};

const DIRECT_SCHEMA = {
  summary: 'Open the one-to-one conversation with a user',
  description: 'Creates the conversation on first use; later calls return the same id.',
  tags: ['conversations'],
  security: BEARER_SECURITY,
  body: {
    type: 'object',
    required: ['userId'],
    additionalProperties: false,
    properties: {
      userId: { type: 'string', pattern: ID_SCHEMA_PATTERN, description: 'Id of the other user.' },
    },
  },
  response: {
    200: {
      description: 'The one-to-one conversation exists.',
      type: 'object',
      required: ['id'],
      additionalProperties: false,
      properties: { id: { type: 'string', description: 'Conversation id, `d.<user>.<user>`.' } },
    },
    ...AUTHENTICATED_ERROR_RESPONSES,
    ...BODY_ERROR_RESPONSES,
    404: ERROR_RESPONSES[404],
  },
};

/** Registers GET /v1/conversations and POST /v1/conversations/direct, behind bearer authentication. */
export function registerConversationRoutes(app: FastifyInstance, context: ApiContext): void {
  const { store } = context;

  app.get('/v1/conversations', { schema: LIST_SCHEMA }, async (request) => {
    await context.awaitPersisted();
    const summaries = await store.listConversations(callerId(request));
    const users = await loadUsers(context, summaries);
    return { conversations: summaries.map((summary) => toConversationView(summary, users)) };
  });

  app.post<{ Body: DirectBody }>(
    '/v1/conversations/direct',
    { schema: DIRECT_SCHEMA, bodyLimit: API_BODY_LIMIT_BYTES },
    async (request) => {
      const caller = callerId(request);
      const { userId } = request.body;
      if (userId === caller) {
        throw new InvalidRequestError(
          ErrorCode.RequestInvalid,
          "userId is the caller's own id, but a direct conversation needs another user",
        );
      }
      if ((await store.getUser(userId)) === null) {
        throw new NotFoundError(ErrorCode.UserNotFound, `user "${userId}" does not exist`);
      }

      const conv = buildDirectConversationId(caller, userId);
      await store.ensureDirectConversation(conv, directMembers(conv)!, context.now());
      return { id: conv };
    },
  );
}

async function loadUsers(
  context: ApiContext,
  summaries: ConversationSummary[],
): Promise<Map<string, UserRecord>> {
  const ids = new Set(summaries.flatMap((summary) => summary.members));
  // NOTE: one store read per distinct member, so a caller in many large groups pays for every
  // member on each list. A batched user lookup on the Store port would remove the cost.
  const users = await Promise.all([...ids].map((id) => context.store.getUser(id)));
  return new Map(users.filter((user) => user !== null).map((user) => [user.id, user]));
}

function toConversationView(summary: ConversationSummary, users: Map<string, UserRecord>) {
  const states = new Map(summary.memberStates.map((state) => [state.user, state]));
  const members = summary.members.map((id) => {
    const user = users.get(id);
    const state = states.get(id);
    // No route deletes users, so a member without a record means the store is inconsistent.
    // The id then replaces the names, so the member is still listed.
    return {
      id,
      username: user?.username ?? id,
      displayName: user?.displayName ?? id,
      deliveredSeq: state?.deliveredSeq ?? 0,
      readSeq: state?.readSeq ?? 0,
    };
  });

  return {
    id: summary.id,
    kind: summary.kind,
    members,
    lastMessage: summary.lastMessage,
    unread: summary.unread,
    ...(summary.group === undefined ? {} : { group: summary.group }),
  };
}
