import { ERROR_RESPONSE_SCHEMA } from '@switchboard/core';

/**
 * JSON schemas shared by the API routes.
 *
 * Response schemas also decide what leaves the process, because fastify serializes replies
 * through them. A field missing here, such as a password hash, is dropped from the reply.
 */

/** Largest request body that any API route accepts, in bytes. */
export const API_BODY_LIMIT_BYTES = 16 * 1024;

/** User, message and group ids (the `ID_PATTERN` of the wire protocol). */
export const ID_SCHEMA_PATTERN = '^[A-Za-z0-9_-]{1,64}$';

/** Conversation ids (the `CONVERSATION_PATTERN` of the wire protocol). */
export const CONVERSATION_SCHEMA_PATTERN =
  '^(?:d\\.[A-Za-z0-9_-]{1,64}\\.[A-Za-z0-9_-]{1,64}|g\\.[A-Za-z0-9_-]{1,64})$';

/**
 * Pattern of names that other users see (display names, group names). A name needs one letter,
 * digit, symbol or punctuation mark. Control characters, lone surrogates, line separators and
 * bidirectional overrides are rejected, because they can hide or reorder the text around a name.
 * Fastify's Ajv compiles patterns with the `u` flag, so `\p{...}` classes work.
 */
const HIDDEN_CHARACTERS = String.raw`\p{Cc}\p{Cs}\u2028\u2029\u202A-\u202E\u2066-\u2069`;
const VISIBLE_CHARACTER = String.raw`[\p{L}\p{N}\p{S}\p{P}]`;
export const VISIBLE_NAME_PATTERN = `^[^${HIDDEN_CHARACTERS}]*${VISIBLE_CHARACTER}[^${HIDDEN_CHARACTERS}]*$`;

export const USERNAME_SCHEMA = {
  type: 'string',
  minLength: 3,
  maxLength: 32,
  pattern: '^[A-Za-z0-9_.-]+$',
  description: 'Login name: letters, digits, `_`, `.` and `-`. Case-insensitive, stored lower-case.',
} as const;

export const PASSWORD_SCHEMA = {
  type: 'string',
  minLength: 8,
  maxLength: 128,
} as const;

export const USER_SCHEMA = {
  type: 'object',
  required: ['id', 'username', 'displayName'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    username: { type: 'string' },
    displayName: { type: 'string' },
  },
} as const;

export const MESSAGE_SCHEMA = {
  type: 'object',
  required: ['conv', 'seq', 'from', 'id', 'body', 'ts'],
  additionalProperties: false,
  properties: {
    conv: { type: 'string' },
    seq: { type: 'integer', description: 'Sequence number in the conversation.' },
    from: { type: 'string', description: 'User id of the sender.' },
    id: { type: 'string', description: 'Client message id chosen by the sender.' },
    body: { type: 'string' },
    ts: { type: 'integer', description: 'Accept time in milliseconds since the epoch.' },
    event: {
      type: 'object',
      description: 'Present on system messages: the group change they record. Their body is empty.',
      required: ['action', 'users'],
      additionalProperties: false,
      properties: {
        action: { type: 'string', enum: ['created', 'renamed', 'added', 'removed', 'left', 'promoted'] },
        users: { type: 'array', items: { type: 'string' }, description: 'Users the change affects.' },
        name: { type: 'string', description: 'Group name after `created` or `renamed`.' },
        groupKind: { type: 'string', enum: ['group', 'channel'] },
      },
    },
  },
} as const;

/** Access and refresh tokens returned by register, login and refresh. */
export const AUTH_SESSION_SCHEMA = {
  type: 'object',
  required: ['user', 'accessToken', 'refreshToken', 'expiresIn'],
  additionalProperties: false,
  properties: {
    user: USER_SCHEMA,
    accessToken: { type: 'string', description: 'HS256 JWT for the `Authorization: Bearer` header.' },
    refreshToken: { type: 'string', description: 'Single-use token for POST /v1/auth/refresh.' },
    expiresIn: { type: 'integer', description: 'Lifetime of the access token in seconds.' },
  },
} as const;

/** Response entry of an error status: the error body of registerErrorHandler, with a description. */
function errorResponse(description: string) {
  return { ...ERROR_RESPONSE_SCHEMA, description };
}

export const ERROR_RESPONSES = {
  400: errorResponse('The request failed validation (SWB_ERR_REQUEST_INVALID) or has a bad cursor.'),
  401: errorResponse('Credentials, access token or refresh token are missing, invalid or expired.'),
  403: errorResponse('The caller is not a member of the conversation.'),
  404: errorResponse('The user or conversation does not exist.'),
  409: errorResponse('The user name is already registered.'),
  413: errorResponse(`The body is larger than ${API_BODY_LIMIT_BYTES} bytes.`),
  415: errorResponse('The body is not application/json.'),
  500: errorResponse('An unexpected server failure (SWB_ERR_INTERNAL).'),
  503: errorResponse('A dependency failed. Retry the same request (SWB_ERR_UNAVAILABLE).'),
} as const;

/** Error replies that every route can produce: bad input and server failures. */
export const COMMON_ERROR_RESPONSES = {
  400: ERROR_RESPONSES[400],
  500: ERROR_RESPONSES[500],
  503: ERROR_RESPONSES[503],
} as const;

/** Error replies of the routes with a JSON body. */
export const BODY_ERROR_RESPONSES = {
  413: ERROR_RESPONSES[413],
  415: ERROR_RESPONSES[415],
} as const;

/** Error replies of the routes behind bearer authentication. */
export const AUTHENTICATED_ERROR_RESPONSES = {
  ...COMMON_ERROR_RESPONSES,
  401: ERROR_RESPONSES[401],
} as const;

/** Security requirement of the routes behind bearer authentication, for the OpenAPI document. */
export const BEARER_SECURITY = [{ bearerAuth: [] }];
