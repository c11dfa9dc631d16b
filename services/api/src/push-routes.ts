import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { conversationKind, ErrorCode } from '@switchboard/protocol';
import {
  ConflictError,
  InvalidRequestError,
  NotFoundError,
  type PushRegistry,
  type PushSettings,
  type PushSubscription,
  type PushTarget,
  type Store,
} from '@switchboard/core';
import { validateWebPushEndpoint, validateWebPushKeys } from '@switchboard/push';
import { callerId } from './authenticate.ts';
import {
  AUTHENTICATED_ERROR_RESPONSES,
  BEARER_SECURITY,
  BODY_ERROR_RESPONSES,
  CONVERSATION_SCHEMA_PATTERN,
  ERROR_RESPONSES,
} from './schemas.ts';

/** Default maximum of push subscriptions per user: a user's phones, tablets and browsers. */
export const DEFAULT_MAX_PUSH_SUBSCRIPTIONS = 20;

/** Default maximum of muted conversations per user. */
export const DEFAULT_MAX_MUTED_CONVERSATIONS = 200;

/** FCM registration tokens: URL-safe characters and `:`. FCM documents no length, so the bounds are loose. */
const FCM_TOKEN = /^[A-Za-z0-9_:-]{32,4096}$/;

/**
 * APNs device tokens in hex. They are 32 bytes today, but Apple warns that the length may grow,
 * so up to 100 bytes are accepted; that bound is a choice of this API.
 */
const APNS_TOKEN = /^(?:[0-9a-fA-F]{2}){32,100}$/;

/** Settings of the push routes, from the API's configuration. */
export interface PushRoutesConfig {
  /** VAPID public key (base64url) that web clients subscribe with; null when Web Push is off. */
  vapidPublicKey: string | null;
  /** Whether the push worker sends through FCM. */
  fcm: boolean;
  /** Whether the push worker sends through APNs. */
  apns: boolean;
  /** Hosts a Web Push endpoint may point at; `.example.com` matches subdomains. */
  allowedHosts: readonly string[];
  maxSubscriptions?: number;
  maxMutedConversations?: number;
}

export interface PushRoutesOptions {
  registry: PushRegistry;
  /** Conversations and group members, to check that a muted conversation is the caller's. */
  store: Store;
  config: PushRoutesConfig;
  now: () => number;
}

type SubscriptionBody = {
  kind: 'webpush' | 'fcm' | 'apns';
  endpoint?: string;
  keys?: { p256dh: string; auth: string };
  token?: string;
};

const SUBSCRIPTION_BODY = {
  type: 'object',
  description:
    'One of `{ kind: "webpush", endpoint, keys: { p256dh, auth } }` (the PushSubscription of the ' +
    'browser), `{ kind: "fcm", token }` or `{ kind: "apns", token }` (hex device token).',
  required: ['kind'],
  additionalProperties: false,
  properties: {
    kind: { type: 'string', enum: ['webpush', 'fcm', 'apns'] },
    endpoint: { type: 'string', maxLength: 2048, description: 'Web Push endpoint URL.' },
    keys: {
      type: 'object',
      required: ['p256dh', 'auth'],
      additionalProperties: false,
      properties: {
        p256dh: { type: 'string', maxLength: 128, description: 'P-256 public key, 65 bytes in base64url.' },
        auth: { type: 'string', maxLength: 64, description: 'Authentication secret, 16 bytes in base64url.' },
      },
    },
    token: { type: 'string', maxLength: 4096, description: 'FCM registration token or APNs device token.' },
  },
} as const;

const SUBSCRIPTION_SCHEMA = {
  type: 'object',
  required: ['id', 'kind', 'createdAt'],
  additionalProperties: false,
  properties: {
    id: {
      type: 'string',
      description: 'Subscription id; the same endpoint or token always gets the same id.',
    },
    kind: { type: 'string', enum: ['webpush', 'fcm', 'apns'] },
    endpoint: { type: 'string', description: 'Web Push endpoint; the keys are not returned.' },
    token: { type: 'string', description: 'FCM or APNs token.' },
    createdAt: { type: 'integer', description: 'First registration in milliseconds since the epoch.' },
  },
} as const;

const SETTINGS_SCHEMA = {
  type: 'object',
  required: ['muted', 'previews', 'mutedConversations'],
  additionalProperties: false,
  properties: {
    muted: { type: 'boolean', description: 'Nothing is pushed while true.' },
    previews: { type: 'boolean', description: 'When false, notifications carry neither sender nor text.' },
    mutedConversations: { type: 'array', items: { type: 'string' } },
  },
} as const;

const CONV_PARAMS = {
  type: 'object',
  required: ['conv'],
  additionalProperties: false,
  properties: { conv: { type: 'string', pattern: CONVERSATION_SCHEMA_PATTERN } },
} as const;

/**
 * Registers the push notification routes behind bearer authentication: GET /v1/push/config,
 * POST, GET and DELETE /v1/push/subscriptions, GET and PUT /v1/push/settings, and PUT and
 * DELETE /v1/push/mutes/:conv.
 */
export function registerPushRoutes(app: FastifyInstance, options: PushRoutesOptions): void {
  const { registry, config } = options;
  const maxSubscriptions = config.maxSubscriptions ?? DEFAULT_MAX_PUSH_SUBSCRIPTIONS;
  const maxMuted = config.maxMutedConversations ?? DEFAULT_MAX_MUTED_CONVERSATIONS;

  app.get(
    '/v1/push/config',
    {
      schema: {
        summary: 'Read which push services this deployment sends through',
        tags: ['push'],
        security: BEARER_SECURITY,
        response: {
          200: {
            description: '`webPush` is null when Web Push is off; a web client subscribes with its key.',
            type: 'object',
            required: ['webPush', 'fcm', 'apns'],
            additionalProperties: false,
            properties: {
              webPush: {
                type: ['object', 'null'],
                required: ['vapidPublicKey'],
                additionalProperties: false,
                properties: { vapidPublicKey: { type: 'string' } },
              },
              fcm: { type: 'boolean' },
              apns: { type: 'boolean' },
            },
          },
          ...AUTHENTICATED_ERROR_RESPONSES,
        },
      },
    },
    async () => ({
      webPush: config.vapidPublicKey === null ? null : { vapidPublicKey: config.vapidPublicKey },
      fcm: config.fcm,
      apns: config.apns,
    }),
  );

  app.post<{ Body: SubscriptionBody }>(
    '/v1/push/subscriptions',
    {
      schema: {
        summary: 'Register a device for push notifications',
        description:
          'Registering the same endpoint or token again returns the existing subscription, with ' +
          `its keys updated. A user has at most ${maxSubscriptions} subscriptions.`,
        tags: ['push'],
        security: BEARER_SECURITY,
        body: SUBSCRIPTION_BODY,
        response: {
          201: { ...SUBSCRIPTION_SCHEMA, description: 'The subscription, new or registered before.' },
          ...AUTHENTICATED_ERROR_RESPONSES,
          ...BODY_ERROR_RESPONSES,
          409: {
            ...ERROR_RESPONSES[409],
            description: 'The caller has the maximum number of subscriptions.',
          },
        },
      },
    },
    async (request, reply) => {
      const caller = callerId(request);
      const target = parseTarget(request.body, config.allowedHosts);
      const id = buildSubscriptionId(target);
      const registered = await registry.listSubscriptions(caller);
      const previous = registered.find((subscription) => subscription.id === id);
      // NOTE: two first registrations at the same moment can both pass this check, so a user
      // can end up one or two above the maximum.
      if (previous === undefined && registered.length >= maxSubscriptions) {
        throw new ConflictError(
          ErrorCode.PushLimitReached,
          `the caller has ${registered.length} push subscriptions, the maximum; delete one first`,
        );
      }
      const subscription: PushSubscription = {
        ...target,
        id,
        user: caller,
        createdAt: previous?.createdAt ?? options.now(),
      };
      await registry.addSubscription(subscription);
      return reply.code(201).send(toView(subscription));
    },
  );

  app.get(
    '/v1/push/subscriptions',
    {
      schema: {
        summary: "List the caller's push subscriptions",
        tags: ['push'],
        security: BEARER_SECURITY,
        response: {
          200: {
            description: 'Subscriptions in registration order.',
            type: 'object',
            required: ['subscriptions'],
            additionalProperties: false,
            properties: { subscriptions: { type: 'array', items: SUBSCRIPTION_SCHEMA } },
          },
          ...AUTHENTICATED_ERROR_RESPONSES,
        },
      },
    },
    async (request) => ({
      subscriptions: (await registry.listSubscriptions(callerId(request))).map(toView),
    }),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/push/subscriptions/:id',
    {
      schema: {
        summary: 'Delete one of the caller’s push subscriptions',
        tags: ['push'],
        security: BEARER_SECURITY,
        params: {
          type: 'object',
          required: ['id'],
          additionalProperties: false,
          properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
        },
        response: {
          204: { type: 'null', description: 'The subscription was deleted.' },
          ...AUTHENTICATED_ERROR_RESPONSES,
          404: { ...ERROR_RESPONSES[404], description: 'The caller has no subscription with this id.' },
        },
      },
    },
    async (request, reply) => {
      const removed = await registry.removeSubscription(callerId(request), request.params.id);
      if (!removed) {
        throw new NotFoundError(
          ErrorCode.PushSubscriptionNotFound,
          `push subscription ${request.params.id} does not exist`,
        );
      }
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/push/settings',
    {
      schema: {
        summary: "Read the caller's push settings",
        tags: ['push'],
        security: BEARER_SECURITY,
        response: { 200: SETTINGS_SCHEMA, ...AUTHENTICATED_ERROR_RESPONSES },
      },
    },
    async (request) => registry.getSettings(callerId(request)),
  );

  app.put<{ Body: { muted: boolean; previews: boolean } }>(
    '/v1/push/settings',
    {
      schema: {
        summary: 'Change whether anything is pushed and whether notifications show text',
        description: 'Muted conversations stay as they are; change them under /v1/push/mutes.',
        tags: ['push'],
        security: BEARER_SECURITY,
        body: {
          type: 'object',
          required: ['muted', 'previews'],
          additionalProperties: false,
          properties: { muted: { type: 'boolean' }, previews: { type: 'boolean' } },
        },
        response: {
          200: { ...SETTINGS_SCHEMA, description: 'The settings after the change.' },
          ...AUTHENTICATED_ERROR_RESPONSES,
          ...BODY_ERROR_RESPONSES,
        },
      },
    },
    async (request) => {
      const caller = callerId(request);
      // NOTE: settings are read, changed and written whole, so of two changes at the same
      // moment one can be lost. Both would come from one user's own devices, which is rare.
      const current = await registry.getSettings(caller);
      const next: PushSettings = { ...current, muted: request.body.muted, previews: request.body.previews };
      await registry.setSettings(caller, next);
      return next;
    },
  );

  app.put<{ Params: { conv: string } }>(
    '/v1/push/mutes/:conv',
    {
      schema: {
        summary: 'Mute push notifications of one conversation',
        description: `Muting twice changes nothing. A user mutes at most ${maxMuted} conversations.`,
        tags: ['push'],
        security: BEARER_SECURITY,
        params: CONV_PARAMS,
        response: {
          204: { type: 'null', description: 'The conversation is muted.' },
          ...AUTHENTICATED_ERROR_RESPONSES,
          404: { ...ERROR_RESPONSES[404], description: 'The caller is not a member of the conversation.' },
          409: {
            ...ERROR_RESPONSES[409],
            description: 'The caller has muted the maximum number of conversations.',
          },
        },
      },
    },
    async (request, reply) => {
      const caller = callerId(request);
      const { conv } = request.params;
      await assertMember(options.store, caller, conv);
      const current = await registry.getSettings(caller);
      if (!current.mutedConversations.includes(conv)) {
        if (current.mutedConversations.length >= maxMuted) {
          throw new ConflictError(
            ErrorCode.PushLimitReached,
            `the caller has muted ${current.mutedConversations.length} conversations, the maximum; unmute one first`,
          );
        }
        await registry.setSettings(caller, {
          ...current,
          mutedConversations: [...current.mutedConversations, conv],
        });
      }
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: { conv: string } }>(
    '/v1/push/mutes/:conv',
    {
      schema: {
        summary: 'Unmute push notifications of one conversation',
        description: 'Unmuting a conversation that is not muted changes nothing.',
        tags: ['push'],
        security: BEARER_SECURITY,
        params: CONV_PARAMS,
        response: {
          204: { type: 'null', description: 'The conversation is not muted.' },
          ...AUTHENTICATED_ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const caller = callerId(request);
      const current = await registry.getSettings(caller);
      if (current.mutedConversations.includes(request.params.conv)) {
        await registry.setSettings(caller, {
          ...current,
          mutedConversations: current.mutedConversations.filter((conv) => conv !== request.params.conv),
        });
      }
      return reply.code(204).send();
    },
  );
}

/** Checks the body's kind-specific fields and returns the push target, normalised. */
function parseTarget(body: SubscriptionBody, allowedHosts: readonly string[]): PushTarget {
  if (body.kind === 'webpush') {
    if (body.token !== undefined) {
      throw new InvalidRequestError(ErrorCode.RequestInvalid, 'a webpush subscription has no token');
    }
    if (body.endpoint === undefined || body.keys === undefined) {
      throw new InvalidRequestError(
        ErrorCode.RequestInvalid,
        'a webpush subscription needs endpoint and keys',
      );
    }
    const endpointError = validateWebPushEndpoint(body.endpoint, allowedHosts);
    if (endpointError !== null) throw new InvalidRequestError(ErrorCode.PushEndpointInvalid, endpointError);
    const keysError = validateWebPushKeys(body.keys);
    if (keysError !== null) throw new InvalidRequestError(ErrorCode.PushKeysInvalid, keysError);
    // The serialized URL is stored, so that spellings of one endpoint (host case, a default
    // port, white space that URL parsing drops) share one subscription id.
    return {
      kind: 'webpush',
      endpoint: new URL(body.endpoint).href,
      keys: { p256dh: body.keys.p256dh, auth: body.keys.auth },
    };
  }

  if (body.endpoint !== undefined || body.keys !== undefined) {
    throw new InvalidRequestError(
      ErrorCode.RequestInvalid,
      `a ${body.kind} subscription has no endpoint or keys`,
    );
  }
  if (body.token === undefined) {
    throw new InvalidRequestError(ErrorCode.RequestInvalid, `a ${body.kind} subscription needs a token`);
  }
  if (body.kind === 'fcm') {
    if (!FCM_TOKEN.test(body.token)) {
      throw new InvalidRequestError(
        ErrorCode.PushTokenInvalid,
        'an FCM token must be 32 to 4096 characters of A-Z, a-z, 0-9, "_", "-" and ":"',
      );
    }
    return { kind: 'fcm', token: body.token };
  }
  if (!APNS_TOKEN.test(body.token)) {
    throw new InvalidRequestError(
      ErrorCode.PushTokenInvalid,
      'an APNs device token must be 32 to 100 bytes in hex (64 to 200 hex digits)',
    );
  }
  return { kind: 'apns', token: body.token.toLowerCase() };
}

/**
 * Derives the subscription id from the endpoint or token, so that registering a device again,
 * even from two requests at once, writes the same row.
 */
function buildSubscriptionId(target: PushTarget): string {
  const address = target.kind === 'webpush' ? target.endpoint : target.token;
  return createHash('sha256').update(`${target.kind}\n${address}`).digest('base64url').slice(0, 22);
}

function toView(subscription: PushSubscription): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: subscription.id,
    kind: subscription.kind,
    createdAt: subscription.createdAt,
  };
  if (subscription.kind === 'webpush') view.endpoint = subscription.endpoint;
  else view.token = subscription.token;
  return view;
}

/** Throws a NotFoundError unless `user` is a member of `conv`, as for a conversation that does not exist. */
async function assertMember(store: Store, user: string, conv: string): Promise<void> {
  let member: boolean;
  if (conversationKind(conv) === 'group') {
    const row = await store.getGroupMember(conv, user);
    member = row !== null && row.joinedSeq !== null && row.leftSeq === null;
  } else {
    const conversation = await store.getConversation(conv);
    member = conversation?.members.includes(user) === true;
  }
  if (!member) throw new NotFoundError(ErrorCode.ConversationNotFound, `conversation ${conv} does not exist`);
}
