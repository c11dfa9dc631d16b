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
}

/** Deliveries for one target node, sent as a single publish. */
export interface DeliveryBatch {
  from: string;
  deliveries: Delivery[];
}

export type Unsubscribe = () => Promise<void>;

/**
 * Membership and node-to-node delivery.
 *
 * Membership entries expire unless refreshed by `heartbeat`, so a node that dies leaves
 * `members()` within its TTL without any clean-up code running. Delivery is best effort: a
 * batch published while the target is unsubscribed is lost, and the sync stream covers it.
 */
export interface Bus {
  /** Adds `node` to the membership, or refreshes it, for `ttlMs` milliseconds. */
  heartbeat(node: NodeInfo, ttlMs: number): Promise<void>;
  /** Removes a node from the membership at once (graceful shutdown). */
  leave(nodeId: string): Promise<void>;
  /** Lists live members, sorted by id. */
  members(): Promise<NodeInfo[]>;
  /** Calls `listener` after any join, leave or expiry. Returns a function that removes it. */
  onMembershipChange(listener: () => void): () => void;
  /** Receives the batches published to `nodeId`. */
  subscribeNode(nodeId: string, handler: (batch: DeliveryBatch) => void): Promise<Unsubscribe>;
  /** Publishes one batch to the node `nodeId`. */
  publishToNode(nodeId: string, batch: DeliveryBatch): Promise<void>;
  close(): Promise<void>;
}
