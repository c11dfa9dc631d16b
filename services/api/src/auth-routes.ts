import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ErrorCode } from '@switchboard/protocol';
import {
  AuthError,
  ConflictError,
  hashPassword,
  hashRefreshToken,
  verifyPassword,
  type UserRecord,
} from '@switchboard/core';
import type { ApiContext } from './api-context.ts';
import {
  API_BODY_LIMIT_BYTES,
  AUTH_SESSION_SCHEMA,
  COMMON_ERROR_RESPONSES,
  BODY_ERROR_RESPONSES,
  ERROR_RESPONSES,
  PASSWORD_SCHEMA,
  USERNAME_SCHEMA,
  VISIBLE_NAME_PATTERN,
} from './schemas.ts';
import { generateUserId, toPublicUser, type PublicUser } from './user-records.ts';

interface RegisterBody {
  username: string;
  password: string;
  displayName?: string;
}

interface LoginBody {
  username: string;
  password: string;
}

interface RefreshBody {
  refreshToken: string;
}

/** Reply of register, login and refresh. */
export interface AuthSession {
  user: PublicUser;
  accessToken: string;
  refreshToken: string;
  /** Lifetime of the access token in seconds. */
  expiresIn: number;
}

// Login rejects an unknown name with the same message as a wrong password, so the reply
// does not reveal which user names exist.
const INVALID_CREDENTIALS_MESSAGE = 'user name or password is wrong';

const REGISTER_SCHEMA = {
  summary: 'Register a user and start a session',
  tags: ['auth'],
  body: {
    type: 'object',
    required: ['username', 'password'],
    additionalProperties: false,
    properties: {
      username: USERNAME_SCHEMA,
      password: PASSWORD_SCHEMA,
      displayName: {
        type: 'string',
        minLength: 1,
        maxLength: 64,
        pattern: VISIBLE_NAME_PATTERN,
        description:
          'Name shown to other users, with at least one visible character and no control characters or bidirectional overrides; defaults to the user name.',
      },
    },
  },
  response: {
    201: { ...AUTH_SESSION_SCHEMA, description: 'The user was created and the session started.' },
    ...COMMON_ERROR_RESPONSES,
    ...BODY_ERROR_RESPONSES,
    409: ERROR_RESPONSES[409],
  },
};

const LOGIN_SCHEMA = {
  summary: 'Log in with user name and password',
  tags: ['auth'],
  body: {
    type: 'object',
    required: ['username', 'password'],
    additionalProperties: false,
    properties: {
      username: { type: 'string', minLength: 1, maxLength: USERNAME_SCHEMA.maxLength },
      password: { type: 'string', minLength: 1, maxLength: PASSWORD_SCHEMA.maxLength },
    },
  },
  response: {
    200: { ...AUTH_SESSION_SCHEMA, description: 'The session started.' },
    ...COMMON_ERROR_RESPONSES,
    ...BODY_ERROR_RESPONSES,
    401: ERROR_RESPONSES[401],
  },
};

const REFRESH_SCHEMA = {
  summary: 'Exchange a refresh token for new access and refresh tokens',
  description: 'The refresh token is single use: a second exchange of the same token fails with a 401.',
  tags: ['auth'],
  body: {
    type: 'object',
    required: ['refreshToken'],
    additionalProperties: false,
    properties: {
      refreshToken: { type: 'string', minLength: 1, maxLength: 256 },
    },
  },
  response: {
    200: {
      ...AUTH_SESSION_SCHEMA,
      description: 'New access and refresh tokens. The old refresh token is spent.',
    },
    ...COMMON_ERROR_RESPONSES,
    ...BODY_ERROR_RESPONSES,
    401: ERROR_RESPONSES[401],
  },
};

// A real scrypt hash of a random password, with the production cost parameters: login
// verifies against it when the user does not exist, so both failures take the same time.
// Computed once per process and shared by every app instance.
let dummyPasswordHash: Promise<string> | undefined;

function loadDummyPasswordHash(): Promise<string> {
  dummyPasswordHash ??= hashPassword(randomBytes(24).toString('base64url'));
  return dummyPasswordHash;
}

/** Registers POST /v1/auth/register, /v1/auth/login and /v1/auth/refresh. */
export async function registerAuthRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { store, tokens } = context;

  // Hashing while the routes register keeps the first failed login from taking two hashes.
  await loadDummyPasswordHash();

  async function startSession(user: UserRecord): Promise<AuthSession> {
    const nowMs = context.now();
    const accessToken = await tokens.issueAccess(user.id, nowMs);
    const refresh = tokens.mintRefresh(nowMs);
    await store.saveRefreshToken(refresh.hash, user.id, refresh.expiresAt);
    return {
      user: toPublicUser(user),
      accessToken,
      refreshToken: refresh.token,
      expiresIn: tokens.accessTtlSeconds,
    };
  }

  app.post<{ Body: RegisterBody }>(
    '/v1/auth/register',
    { schema: REGISTER_SCHEMA, bodyLimit: API_BODY_LIMIT_BYTES },
    async (request, reply) => {
      const username = request.body.username.toLowerCase();
      // A cheap check before the costly hash. createUser still rejects a name taken meanwhile.
      if ((await store.findUserByName(username)) !== null) {
        throw new ConflictError(
          ErrorCode.UsernameTaken,
          `user name "${username}" is already registered. Choose another name`,
        );
      }

      const user: UserRecord = {
        id: generateUserId(),
        username,
        displayName: request.body.displayName?.trim() ?? username,
        passwordHash: await hashPassword(request.body.password),
        createdAt: context.now(),
      };
      await store.createUser(user);
      request.log.info({ userId: user.id }, 'user registered');

      const session = await startSession(user);
      return reply.code(201).send(session);
    },
  );

  app.post<{ Body: LoginBody }>(
    '/v1/auth/login',
    { schema: LOGIN_SCHEMA, bodyLimit: API_BODY_LIMIT_BYTES },
    async (request) => {
      const user = await store.findUserByName(request.body.username.toLowerCase());
      const storedHash = user?.passwordHash ?? (await loadDummyPasswordHash());
      const valid = await verifyPassword(request.body.password, storedHash);
      if (user === null || !valid) {
        request.log.info({ userId: user?.id }, 'login rejected');
        throw new AuthError(ErrorCode.AuthInvalidCredentials, INVALID_CREDENTIALS_MESSAGE);
      }

      return startSession(user);
    },
  );

  app.post<{ Body: RefreshBody }>(
    '/v1/auth/refresh',
    { schema: REFRESH_SCHEMA, bodyLimit: API_BODY_LIMIT_BYTES },
    async (request) => {
      const tokenHash = hashRefreshToken(request.body.refreshToken);
      const userId = await store.consumeRefreshToken(tokenHash, context.now());
      const user = userId === null ? null : await store.getUser(userId);
      if (user === null) {
        throw new AuthError(
          ErrorCode.AuthRefreshInvalid,
          'refresh token is unknown, expired or already used. Log in again',
        );
      }

      return startSession(user);
    },
  );
}
