/** A push channel a device registered: Web Push, Firebase Cloud Messaging or APNs. */
export type PushTarget =
  | { kind: 'webpush'; endpoint: string; keys: { p256dh: string; auth: string } }
  | { kind: 'fcm'; token: string }
  | { kind: 'apns'; token: string };

export type PushKind = PushTarget['kind'];

/** A registered push target of one user's device. */
export type PushSubscription = PushTarget & {
  /** Server-assigned id, unique per user. */
  id: string;
  user: string;
  /** Registration time in milliseconds since the epoch. */
  createdAt: number;
};

/** What a user wants pushed. Applied by the push worker when it sends, not when jobs are made. */
export interface PushSettings {
  /** Nothing is pushed while true. */
  muted: boolean;
  /** When false, notifications say that a message arrived but carry neither sender name nor text. */
  previews: boolean;
  /** Conversations that push nothing. */
  mutedConversations: string[];
}

export const DEFAULT_PUSH_SETTINGS: Readonly<PushSettings> = Object.freeze({
  muted: false,
  previews: true,
  mutedConversations: [],
});

/**
 * One message (or channel notice) for one recipient who had no foreground connection when it
 * was delivered. The push worker collapses jobs per (user, conversation) per interval.
 */
export interface PushJob {
  /** `${conv}:${seq}:${user}`: the key that deduplicates replays of the log. */
  id: string;
  user: string;
  conv: string;
  seq: number;
  from: string;
  /** `message` for one-to-one and group messages, `channel` for a large-channel notice. */
  kind: 'message' | 'channel';
  /** Message text, for a preview; the worker drops it when the user turned previews off. */
  body?: string;
  /** Accept time of the message in milliseconds since the epoch. */
  ts: number;
  /** Delivery attempts made so far; 0 when first appended. */
  attempts: number;
}

/** Stores push subscriptions and settings. Implemented by each profile's storage adapter. */
export interface PushRegistry {
  /** Adds or replaces the subscription with the same user and id. */
  addSubscription(subscription: PushSubscription): Promise<void>;
  /** Removes one subscription; resolves false when it did not exist. */
  removeSubscription(user: string, id: string): Promise<boolean>;
  listSubscriptions(user: string): Promise<PushSubscription[]>;
  getSettings(user: string): Promise<PushSettings>;
  setSettings(user: string, settings: PushSettings): Promise<void>;
}
