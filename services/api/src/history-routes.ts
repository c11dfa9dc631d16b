import type { FastifyInstance } from 'fastify';
import { conversationKind, ErrorCode } from '@switchboard/protocol';
import { InvalidRequestError, NotFoundError, readableRange, type HistoryQuery } from '@switchboard/core';
import type { ApiContext } from './api-context.ts';
import { callerId } from './authenticate.ts';
import { decodeCursor, encodeCursor, MAX_CURSOR_LENGTH, type HistoryDirection } from './cursor.ts';
import {
  AUTHENTICATED_ERROR_RESPONSES,
  BEARER_SECURITY,
  CONVERSATION_SCHEMA_PATTERN,
  ERROR_RESPONSES,
  MESSAGE_SCHEMA,
} from './schemas.ts';

/** History page size when the client names none. */
export const HISTORY_PAGE_DEFAULT = 20;

interface HistoryParams {
  conv: string;
}

interface HistoryQueryString {
  cursor?: string;
  limit?: number;
  direction?: HistoryDirection;
}

function buildHistorySchema(historyPageMax: number) {
  return {
    summary: 'Read one page of a conversation history',
    description:
      'Pages are keyed by sequence number, so messages that arrive between two requests ' +
      'are neither repeated nor skipped. Pass `nextCursor` back as `cursor` for the next page. ' +
      'It is null after the last page.',
    tags: ['conversations'],
    security: BEARER_SECURITY,
    params: {
      type: 'object',
      required: ['conv'],
      additionalProperties: false,
      properties: { conv: { type: 'string', pattern: CONVERSATION_SCHEMA_PATTERN } },
    },
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        cursor: {
          type: 'string',
          minLength: 1,
          maxLength: MAX_CURSOR_LENGTH,
          description: '`nextCursor` of the previous page.',
        },
        limit: {
          type: 'integer',
          minimum: 1,
          maximum: historyPageMax,
          default: HISTORY_PAGE_DEFAULT,
        },
        direction: {
          type: 'string',
          enum: ['older', 'newer'],
          default: 'older',
          description:
            '`older` pages back from the newest message, newest first. `newer` pages forward ' +
            'from the first message, oldest first. With a cursor, it must match the cursor.',
        },
      },
    },
    response: {
      200: {
        description: 'One page of messages and the cursor of the next page.',
        type: 'object',
        required: ['messages', 'nextCursor'],
        additionalProperties: false,
        properties: {
          messages: { type: 'array', items: MESSAGE_SCHEMA },
          nextCursor: { type: ['string', 'null'] },
        },
      },
      ...AUTHENTICATED_ERROR_RESPONSES,
      404: ERROR_RESPONSES[404],
    },
  };
}

/** Registers GET /v1/conversations/:conv/messages, behind bearer authentication. */
export function registerHistoryRoutes(app: FastifyInstance, context: ApiContext): void {
  const { store, historyPageMax } = context;

  app.get<{ Params: HistoryParams; Querystring: HistoryQueryString }>(
    '/v1/conversations/:conv/messages',
    { schema: buildHistorySchema(historyPageMax) },
    async (request) => {
      const { conv } = request.params;
      const limit = request.query.limit ?? HISTORY_PAGE_DEFAULT;
      let direction = request.query.direction ?? 'older';
      let afterPosition: number | undefined;
      if (request.query.cursor !== undefined) {
        const cursor = decodeCursor(request.query.cursor, conv);
        if (request.query.direction !== undefined && request.query.direction !== cursor.direction) {
          throw new InvalidRequestError(
            ErrorCode.CursorInvalid,
            `direction "${request.query.direction}" does not match the cursor's "${cursor.direction}". Omit direction when passing a cursor`,
          );
        }
        direction = cursor.direction;
        afterPosition = cursor.seq;
      }

      const caller = callerId(request);
      const readable = await readableSeqs(context, conv, caller);
      if (readable === null) {
        // The same answer as for a missing conversation, so probing ids reveals nobody's chats.
        throw new NotFoundError(ErrorCode.ConversationNotFound, `conversation "${conv}" does not exist`);
      }

      // One extra row shows whether another page follows, so the last page already returns
      // a null cursor instead of sending the client for an empty one. Pages start inside the
      // caller's readable range: a group member reads from the event that added them, and a
      // former member up to the event that removed them.
      const query: HistoryQuery =
        direction === 'older'
          ? {
              beforeSeq: Math.min(afterPosition ?? Number.MAX_SAFE_INTEGER, readable.to + 1),
              limit: limit + 1,
            }
          : { afterSeq: Math.max(afterPosition ?? 0, readable.from - 1), limit: limit + 1 };
      await context.awaitPersisted();
      const rows = await store.history(conv, query);
      const inRange = rows.filter((row) => row.seq >= readable.from && row.seq <= readable.to);
      const page = inRange.slice(0, limit);
      const last = page.at(-1);
      const nextCursor =
        inRange.length > limit && last !== undefined
          ? encodeCursor({ conv, seq: last.seq, direction })
          : null;
      // A message hidden from the caller leaves a hole in the page rather than a shorter cursor.
      const messages = page.filter((message) => message.hiddenFrom !== caller);

      return { messages, nextCursor };
    },
  );
}

/**
 * Returns the sequence numbers `user` may read in `conv`, or null when the conversation does
 * not exist or the user is not allowed to read it.
 */
async function readableSeqs(
  context: ApiContext,
  conv: string,
  user: string,
): Promise<{ from: number; to: number } | null> {
  if (conversationKind(conv) === 'group') {
    return readableRange(await context.store.getGroupMember(conv, user));
  }
  const conversation = await context.store.getConversation(conv);
  if (conversation === null || !conversation.members.includes(user)) return null;
  return { from: 1, to: Number.MAX_SAFE_INTEGER };
}
