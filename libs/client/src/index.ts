export { SwitchboardClient } from './client.ts';
export type {
  ClientEvents,
  ConnectionStatus,
  DisconnectedEvent,
  MembershipEvent,
  SendOptions,
} from './client.ts';
export type { TypingEvent } from './typing-tracker.ts';
export { ChannelPuller, type ChannelPullerHost } from './channel-puller.ts';
export type { SwitchboardClientOptions } from './client-options.ts';
export type {
  AuthResponse,
  ConversationMember,
  ConversationSummary,
  CreateGroupOptions,
  GroupInfo,
  GroupMemberInfo,
  HistoryMessage,
  HistoryOptions,
  HistoryPage,
  RouteResponse,
  Session,
  User,
} from './api-types.ts';
export { computeBackoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
export {
  ApiError,
  ClientClosedError,
  ClientConfigError,
  ConnectionStoppedError,
  NetworkError,
  NoSessionError,
  SendRejectedError,
  ServerFrameError,
  ServerProtocolError,
  SwitchboardClientError,
} from './errors.ts';
export { generateMessageId } from './message-id.ts';
export { OrderingBuffer, type SequenceGap } from './ordering-buffer.ts';
export { Outbox, type OutboxEntry, type SendTarget } from './outbox.ts';
export { MemoryStateStore, type ClientState, type ClientStateStore } from './state-store.ts';
export { StreamCursor } from './stream-cursor.ts';
export { TypedEmitter, type Listener } from './typed-emitter.ts';
export type { WebSocketConstructor, WebSocketLike } from './websocket.ts';
export type { ActivityState } from '@switchboard/protocol';
