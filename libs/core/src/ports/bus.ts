import type { LogRecord } from './log.ts';

/** A chat node as announced in the membership. */
export interface NodeInfo {
  /** Stable node id, unique in the cluster. */
  id: string;
  /** WebSocket URL that clients connect to. */
  url: string;
  /** Relative share of users; 1 is the default. */
  weight: number;
  /** Start time in milliseconds since the epoch. */
  startedAt: number;
}

/** One serialized server frame for every open connection of `user` on the target node. */
export interface Delivery {
  user: string;
  frame: string;
  /**
   * Accept time of the message in the frame, in milliseconds since the epoch, for the
   * send-to-deliver latency metric. Absent for frames that carry no message.
   */
  ts?: number;
}

/** Deliveries for one target node, sent as a single publish. */
export interface DeliveryBatch {
  from: string;
  deliveries: Delivery[];
  /**
   * Set when the receiving node passed the batch on to the owner on its own ring, because
   * the sender's ring was older. A forwarded batch is not forwarded again.
   */
  forwarded?: true;
}

export type Unsubscribe = () => Promise<void>;

/**
 * A notice for every process on the bus.
 *
 * - `conversation-changed`: a group's members, roles or name changed; drop cached copies.
 * - `records`: log records whose targets get live frames from the node they are connected
 *   to. Processes without a ring, such as the API, publish group changes this way.
 * - `channel-advanced`: a large group or channel reached `seq`; nodes send `notice` frames.
 *   `from` is the sender when a user's message advanced it, absent for group changes.
 * - `block-changed`: `blocker` blocked or unblocked `blocked`.
 */
export type ClusterEvent =
  | { kind: 'conversation-changed'; conv: string }
  | { kind: 'records'; records: LogRecord[] }
  | { kind: 'channel-advanced'; conv: string; seq: number; from?: string }
  | { kind: 'block-changed'; blocker: string; blocked: string };

/** One connected device of a user, as presence tracks it. */
export interface PresenceDevice {
  user: string;
  /** Id of the device's connection, unique in the cluster. */
  device: string;
}

/** A user's presence as read from the bus. */
export interface PresenceState {
  user: string;
  /** True while any device of the user is connected. */
  online: boolean;
  /** When the last device went away, in milliseconds since the epoch; null when never recorded. */
  lastSeen: number | null;
}

/** A user came online (first device) or went offline (last device gone) at `at`. */
export interface PresenceChange {
  user: string;
  online: boolean;
  at: number;
}

/**
 * Membership and node-to-node delivery.
 *
 * Membership entries expire unless refreshed by `heartbeat`, so a node that dies leaves
 * `members()` within its TTL without any clean-up code running. Delivery is best effort: a
 * batch published while the target is unsubscribed is lost, and the sync stream covers it.
 */
export interface Bus {
  /**
   * Adds `node` to the membership, or refreshes it, for `ttlMs` milliseconds. Resolves true
   * when the node was not a member: its first heartbeat, or one after its entry expired.
   */
  heartbeat(node: NodeInfo, ttlMs: number): Promise<boolean>;
  /** Removes a node from the membership at once (graceful shutdown). */
  leave(nodeId: string): Promise<void>;
  /** Lists live members, sorted by id. */
  members(): Promise<NodeInfo[]>;
  /** Calls `listener` after any join, leave or expiry. Returns a function that removes it. */
  onMembershipChange(listener: () => void): () => void;
  /**
   * Calls `listener` when the subscriptions are back after a lost connection to the bus.
   * Batches published to this process's nodes in between were lost. Returns a remover.
   */
  onResubscribed(listener: () => void): () => void;
  /** Receives the batches published to `nodeId`. */
  subscribeNode(nodeId: string, handler: (batch: DeliveryBatch) => void): Promise<Unsubscribe>;
  /** Publishes one batch to the node `nodeId`. */
  publishToNode(nodeId: string, batch: DeliveryBatch): Promise<void>;

  /** Publishes an event to every subscriber in the cluster, this process's included. Best effort. */
  publishEvent(event: ClusterEvent): Promise<void>;
  /** Receives every event published after the subscription is in place. */
  subscribeEvents(handler: (event: ClusterEvent) => void): Promise<Unsubscribe>;

  /**
   * Marks devices online, or keeps them online, for `ttlMs` milliseconds. A device that is
   * not refreshed again within its TTL expires, and its user goes offline when it was the
   * last one, without any clean-up code running.
   */
  refreshPresence(devices: PresenceDevice[], ttlMs: number): Promise<void>;
  /** Marks devices offline at once, as a closed connection does. */
  removePresence(devices: PresenceDevice[]): Promise<void>;
  /** Returns the presence of each user, in the order given. */
  readPresence(users: string[]): Promise<PresenceState[]>;
  /**
   * Calls `listener` with the users that came online or went offline, in batches, from every
   * process on the bus. Expired devices are noticed by a sweep that runs while any listener
   * exists, so a user goes offline within the TTL plus one sweep interval.
   */
  onPresenceChange(listener: (changes: PresenceChange[]) => void): () => void;
  close(): Promise<void>;
}
