/**
 * Stable error codes carried by `error` frames and by HTTP error bodies.
 *
 * A released code never changes meaning. New failures get new codes.
 */
export const ErrorCode = {
  /** The frame is not valid JSON, or not a JSON object. */
  FrameMalformed: 'SWB_ERR_FRAME_MALFORMED',
  /** The frame's `type` is missing or is not a type this protocol version defines. */
  FrameUnknownType: 'SWB_ERR_FRAME_UNKNOWN_TYPE',
  /** A field is missing, has the wrong type or is out of range. */
  FrameInvalidField: 'SWB_ERR_FRAME_INVALID_FIELD',
  /** A binary frame arrived where the protocol expects text. */
  FrameBinary: 'SWB_ERR_FRAME_BINARY',
  /** The frame is larger than the node's `maxFrameBytes`. */
  FrameTooLarge: 'SWB_ERR_FRAME_TOO_LARGE',
  /** The frame's bytes are not valid UTF-8. */
  FrameInvalidUtf8: 'SWB_ERR_FRAME_INVALID_UTF8',
  /** A message body is empty or only whitespace. */
  BodyEmpty: 'SWB_ERR_BODY_EMPTY',
  /** A message body is larger than `maxBodyBytes`. */
  BodyTooLarge: 'SWB_ERR_BODY_TOO_LARGE',
  /** The recipient user does not exist. */
  UserNotFound: 'SWB_ERR_USER_NOT_FOUND',
  /** The conversation does not exist. */
  ConversationNotFound: 'SWB_ERR_CONVERSATION_NOT_FOUND',
  /** The caller is not a member of the conversation. */
  ConversationForbidden: 'SWB_ERR_CONVERSATION_FORBIDDEN',
  /** The connection sent frames faster than its rate limit allows. */
  RateLimited: 'SWB_ERR_RATE_LIMITED',
  /** The same client message id was reused for a different conversation. */
  IdConflict: 'SWB_ERR_ID_CONFLICT',
  /** A dependency (log, store, bus) failed; the request can be retried with the same id. */
  Unavailable: 'SWB_ERR_UNAVAILABLE',
  /** An unexpected server failure. */
  Internal: 'SWB_ERR_INTERNAL',
  /** The access token is missing. */
  AuthTokenMissing: 'SWB_ERR_AUTH_TOKEN_MISSING',
  /** The access token is malformed, forged or uses a rejected algorithm. */
  AuthTokenInvalid: 'SWB_ERR_AUTH_TOKEN_INVALID',
  /** The access token has expired: refresh it and try again. */
  AuthTokenExpired: 'SWB_ERR_AUTH_TOKEN_EXPIRED',
  /** The user name or password is wrong. */
  AuthInvalidCredentials: 'SWB_ERR_AUTH_INVALID_CREDENTIALS',
  /** The refresh token is unknown, expired or was already used. */
  AuthRefreshInvalid: 'SWB_ERR_AUTH_REFRESH_INVALID',
  /** The user name is already registered. */
  UsernameTaken: 'SWB_ERR_USERNAME_TAKEN',
  /** An HTTP request failed schema validation. */
  RequestInvalid: 'SWB_ERR_REQUEST_INVALID',
  /** A history cursor could not be decoded or belongs to another conversation. */
  CursorInvalid: 'SWB_ERR_CURSOR_INVALID',
  /** No chat node is in the ring, so no user can be placed. */
  RingEmpty: 'SWB_ERR_RING_EMPTY',
  /** The route does not exist. */
  NotFound: 'SWB_ERR_NOT_FOUND',
  /** A Web Push endpoint is not a valid URL of an allowed push service. */
  PushEndpointInvalid: 'SWB_ERR_PUSH_ENDPOINT_INVALID',
  /** Web Push keys are not a 65-byte P-256 key and a 16-byte secret in base64url. */
  PushKeysInvalid: 'SWB_ERR_PUSH_KEYS_INVALID',
  /** An FCM or APNs device token has the wrong format or size. */
  PushTokenInvalid: 'SWB_ERR_PUSH_TOKEN_INVALID',
  /** The caller already has the maximum number of push subscriptions or muted conversations. */
  PushLimitReached: 'SWB_ERR_PUSH_LIMIT_REACHED',
  /** The push subscription does not exist or belongs to another user. */
  PushSubscriptionNotFound: 'SWB_ERR_PUSH_SUBSCRIPTION_NOT_FOUND',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Error codes after which the client may retry the same request unchanged. */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.Unavailable,
  ErrorCode.Internal,
  ErrorCode.RateLimited,
  ErrorCode.RingEmpty,
]);

/**
 * WebSocket close codes.
 *
 * 4000-4499 belong to Switchboard and 4500-4999 are left to products built on it.
 * Each comment says what the client does next.
 */
export const CloseCode = {
  /** Normal close requested by either side. The client does not reconnect on its own. */
  Normal: 1000,
  /** The frame exceeded the hard frame limit of the transport. Fix the sender; do not resend it. */
  MessageTooBig: 1009,
  /** The node could not read the user's stream head from its storage. Reconnect after a backoff. */
  TryAgainLater: 1013,
  /** The access token expired during the session. Refresh the token, then reconnect. */
  TokenExpired: 4001,
  /** The ring assigns this user to another node. Ask the router again and connect there. */
  WrongNode: 4002,
  /** The node is draining or shutting down. Ask the router again after a short, random delay. */
  NodeDraining: 4003,
  /** The connection kept sending after rate-limit errors. Reconnect after a backoff. */
  RateLimited: 4004,
  /** The client fell too far behind on deliveries. Reconnect and sync from the last position. */
  SlowConsumer: 4005,
  /** The client kept sending invalid frames. Do not reconnect until the client is fixed. */
  ProtocolViolation: 4006,
  /** No frame or pong arrived within the idle timeout. Reconnect. */
  IdleTimeout: 4007,
  /** The user already has the maximum number of open connections. Close another device first. */
  TooManyConnections: 4008,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
