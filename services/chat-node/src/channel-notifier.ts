import type { GroupView, Logger, NodeInfo } from '@switchboard/core';
import type { NoticeFrame } from '@switchboard/protocol';

/** Members of a large group that a notice found offline, for the push job that is built later. */
export interface OfflineRecipients {
  conv: string;
  /** Highest sequence number of the group that the notice covered. */
  seq: number;
  /** Members whose ring owner is this node and who are away (`isAway`). */
  users: string[];
  /** Sender of the latest user message the notice covered; absent when only group changes advanced it. */
  from?: string;
}

export interface ChannelNotifierOptions {
  intervalMs: number;
  logger: Logger;
  /** This node's id, to pick the members whose ring owner it is. */
  nodeId: string;
  placement: { ownerOf(user: string): NodeInfo | null; readonly ringVersion: string };
  loadGroup: (conv: string) => Promise<GroupView | null>;
  /** Users with at least one connection on this node. */
  connectedUsers: () => Iterable<string>;
  connectedUserCount: () => number;
  isConnected: (user: string) => boolean;
  /** Whether a member counts as offline for `onOfflineRecipients`; `!isConnected` by default. */
  isAway?: (user: string) => boolean;
  /** Writes a serialized frame to every connection of `user` on this node. */
  sendToUser: (user: string, frame: string) => void;
  /** Called at most once per group per interval on this node, when it found members offline. */
  onOfflineRecipients: (batch: OfflineRecipients) => void;
}

interface ChannelState {
  /** Highest sequence number announced on the bus. */
  latest: number;
  /** Highest sequence number sent in a notice. */
  notified: number;
  sentAt: number;
  timer: NodeJS.Timeout | null;
  /** Sender of the latest user message not yet covered by a notice. */
  from: string | undefined;
}

/** Channel states kept before idle ones are dropped. */
const MAX_IDLE_STATES = 10_000;

/**
 * Notices of large groups and channels on one node: push to notify, pull to serve.
 *
 * Every node hears each `channel-advanced` event. A node sends its connected members one
 * `notice` frame per group at most once per interval, with the latest number, and reports the
 * members it owns that are offline to `onOfflineRecipients`, also at most once per interval.
 * The first advance after a quiet interval is sent at once; later ones wait for the interval.
 */
export class ChannelNotifier {
  readonly #options: ChannelNotifierOptions;
  readonly #states = new Map<string, ChannelState>();
  readonly #memberSets = new WeakMap<GroupView, ReadonlySet<string>>();
  readonly #owned = new WeakMap<GroupView, { ringVersion: string; users: string[] }>();
  #stopped = false;

  constructor(options: ChannelNotifierOptions) {
    this.#options = options;
  }

  /** Records that group `conv` reached `seq`, and sends or schedules its notice. */
  advance(conv: string, seq: number, from?: string): void {
    if (this.#stopped) return;
    let state = this.#states.get(conv);
    if (state === undefined) {
      this.#pruneIdle();
      state = { latest: 0, notified: 0, sentAt: 0, timer: null, from: undefined };
      this.#states.set(conv, state);
    }
    state.latest = Math.max(state.latest, seq);
    if (from !== undefined) state.from = from;
    if (state.timer !== null) return;

    const wait = state.sentAt + this.#options.intervalMs - Date.now();
    const timer = setTimeout(() => void this.#flush(conv), Math.max(0, wait));
    timer.unref();
    state.timer = timer;
  }

  stop(): void {
    this.#stopped = true;
    for (const state of this.#states.values()) if (state.timer !== null) clearTimeout(state.timer);
    this.#states.clear();
  }

  async #flush(conv: string): Promise<void> {
    const state = this.#states.get(conv);
    if (state === undefined || this.#stopped) return;
    state.timer = null;
    if (state.latest <= state.notified) return;
    const seq = state.latest;
    const from = state.from;
    state.from = undefined;
    state.notified = seq;
    state.sentAt = Date.now();

    let group: GroupView | null;
    try {
      group = await this.#options.loadGroup(conv);
    } catch (err) {
      this.#options.logger.warn({ err, conv }, 'group load for a notice failed');
      return;
    }
    if (group === null || this.#stopped) return;

    const frame: NoticeFrame = { type: 'notice', conv, seq };
    const text = JSON.stringify(frame);
    const members = this.#memberSet(group);
    // Walk the smaller side: the group's members, or the users connected here.
    if (group.current.length <= this.#options.connectedUserCount()) {
      for (const user of group.current)
        if (this.#options.isConnected(user)) this.#options.sendToUser(user, text);
    } else {
      for (const user of this.#options.connectedUsers())
        if (members.has(user)) this.#options.sendToUser(user, text);
    }

    const isAway = this.#options.isAway ?? ((user: string) => !this.#options.isConnected(user));
    const offline = this.#ownedMembers(group).filter(isAway);
    if (offline.length > 0) {
      this.#options.onOfflineRecipients(
        from === undefined ? { conv, seq, users: offline } : { conv, seq, users: offline, from },
      );
    }
  }

  #memberSet(group: GroupView): ReadonlySet<string> {
    let members = this.#memberSets.get(group);
    if (members === undefined) {
      members = new Set(group.current);
      this.#memberSets.set(group, members);
    }
    return members;
  }

  /** Members whose ring owner is this node, cached per group view and ring version. */
  #ownedMembers(group: GroupView): string[] {
    const ringVersion = this.#options.placement.ringVersion;
    const cached = this.#owned.get(group);
    if (cached !== undefined && cached.ringVersion === ringVersion) return cached.users;
    const users = group.current.filter(
      (user) => this.#options.placement.ownerOf(user)?.id === this.#options.nodeId,
    );
    this.#owned.set(group, { ringVersion, users });
    return users;
  }

  #pruneIdle(): void {
    if (this.#states.size < MAX_IDLE_STATES) return;
    const cutoff = Date.now() - this.#options.intervalMs;
    for (const [conv, state] of this.#states) {
      if (state.timer === null && state.sentAt < cutoff) this.#states.delete(conv);
    }
  }
}
