import {
  ApiError,
  ClientClosedError,
  ConnectionStoppedError,
  generateMessageId,
  NoSessionError,
  SendRejectedError,
  SwitchboardClient,
  type ActivityState,
  type ConnectionStatus,
  type ConversationSummary,
  type GroupInfo,
  type HistoryMessage,
  type MembershipEvent,
  type Session,
  type SwitchboardClientOptions,
  type User,
} from '@switchboard/client';
import {
  buildDirectConversationId,
  conversationKind,
  directMembers,
  type AckFrame,
  type ConversationKind,
  type ErrorFrame,
  type GroupKind,
  type MessageFrame,
  type PresenceEntry,
  type ReceiptFrame,
} from '@switchboard/protocol';
import {
  buildTitle,
  type ConversationView,
  type GroupView,
  type MemberView,
  type MessageView,
  type ThreadView,
} from './conversation.ts';
import { LocalStorageStateStore, type KeyValueStorage } from './local-storage-state-store.ts';
import { computeStatus, type MessageStatus } from './message-status.ts';
import { describeGroupEvent } from './group-events.ts';
import { clearSession, loadSession, parseSession, readTokenExpiry, saveSession } from './saved-session.ts';

/** Messages per history page; the API's default page size. */
export const HISTORY_PAGE_SIZE = 20;
/** Body limit used before the first welcome frame reports the node's `maxBodyBytes`. */
const DEFAULT_MAX_BODY_BYTES = 4096;
const DEFAULT_REFRESH_AHEAD_MS = 60_000;
/**
 * Random delay of up to this much is added to each refresh, so that the tabs of one browser
 * rarely refresh together. A refresh token is valid once, so the slower tab's refresh fails
 * and that tab takes over the tokens that the faster one saved.
 */
const REFRESH_JITTER_MS = 10_000;
const SESSION_ENDED_NOTICE = 'Your session has ended. Log in again.';
/**
 * Peers of this many one-to-one conversations, latest activity first, have their presence
 * followed. It keeps the subscription well below the node's `presenceSubscribeMax` (256 by default).
 */
export const PRESENCE_PEERS_MAX = 100;
/**
 * Member count above which the cluster treats a group as large: it pulls its messages and turns
 * typing off. NOTE: this is the default of SWB_LARGE_GROUP_THRESHOLD. A cluster configured otherwise
 * is not reported to clients, so the web client may misjudge groups near that size.
 */
export const LARGE_GROUP_MEMBERS = 1000;

export type SessionPhase = 'signed-out' | 'signed-in';

/** A text for the screen reader's live region; `id` changes with every new announcement. */
export interface Announcement {
  id: number;
  text: string;
}

/** Everything the views render, replaced as a whole on every change. */
export interface ChatSnapshot {
  phase: SessionPhase;
  me: User | null;
  connection: ConnectionStatus;
  /** True once the client has been connected and caught up in this page's lifetime. */
  everReady: boolean;
  /** The browser's own network state (`navigator.onLine`). */
  browserOnline: boolean;
  /** Conversations, latest activity first. */
  conversations: ConversationView[];
  /** Threads of the conversations opened so far, by conversation id. */
  threads: ReadonlyMap<string, ThreadView>;
  announcement: Announcement | null;
  /** Presence of followed users by user id. A user missing from it has unknown presence. */
  presence: ReadonlyMap<string, PresenceEntry>;
  /** Ids of the members typing, by conversation id, without the conversations where nobody types. */
  typing: ReadonlyMap<string, readonly string[]>;
  /** Reason the user was signed out or the connection stopped, shown on the next screen. */
  notice: string | null;
  maxBodyBytes: number;
}

export interface ChatModelOptions {
  /** Origin of the API and router; the page's own origin in the browser. */
  apiUrl: string;
  /** localStorage in the browser; the session and the client state are kept there. */
  storage: KeyValueStorage;
  /** SDK options that override the web client's defaults, for tests. */
  client?: Partial<Omit<SwitchboardClientOptions, 'apiUrl' | 'state'>>;
  /** Refresh the tokens this long before the access token expires (default 60000 ms). */
  refreshAheadMs?: number;
  now?: () => number;
}

interface PendingMessage {
  id: string;
  body: string;
  createdAt: number;
  failure: string | null;
}

/** Everything the model tracks for one conversation. */
interface ConversationRecord {
  id: string;
  kind: ConversationKind;
  members: Map<string, MemberView>;
  /** Stored messages by seq, from history pages, live delivery, sync and acks. */
  stored: Map<number, HistoryMessage>;
  /** Own messages waiting for their ack, in send order. */
  pending: Map<string, PendingMessage>;
  /** Newest message according to the last conversation list, which may be newer than `stored`. */
  summaryLast: HistoryMessage | null;
  unread: number;
  /** Every stored message with seq >= this number is known, or null before the newest page loaded. */
  coveredFrom: number | null;
  cursor: string | null;
  hasOlder: boolean;
  loaded: boolean;
  loadingLatest: boolean;
  loadingOlder: boolean;
  error: string | null;
  /** Views of the messages, reused while unchanged so that React can skip their rows. */
  views: Map<string, MessageView>;
  /** Group fields, or null for one-to-one conversations. */
  group: GroupRecord | null;
}

interface GroupRecord {
  name: string;
  kind: GroupKind;
  memberCount: number;
  admins: Set<string>;
  detailsLoaded: boolean;
  loadingDetails: boolean;
  left: boolean;
}

type Listener = () => void;

/**
 * State of the web client: session, connection, conversations and their messages, built on
 * one SwitchboardClient. React reads it through `subscribe` and `getSnapshot`, which fit
 * `useSyncExternalStore`; every change produces a new snapshot in a microtask.
 */
export class ChatModel {
  readonly #options: ChatModelOptions;
  readonly #storage: KeyValueStorage;
  readonly #stateStore: LocalStorageStateStore;
  readonly #now: () => number;
  readonly #listeners = new Set<Listener>();

  #client: SwitchboardClient;
  #unwire: Array<() => void> = [];
  /** Incremented on sign-out, so results of requests made for the old session are dropped. */
  #generation = 0;

  #phase: SessionPhase = 'signed-out';
  #me: User | null = null;
  #connection: ConnectionStatus = 'idle';
  #everReady = false;
  #browserOnline = true;
  #notice: string | null = null;
  #maxBodyBytes = DEFAULT_MAX_BODY_BYTES;
  #announcement: Announcement | null = null;
  #activeConv: string | null = null;
  #refreshTimer: ReturnType<typeof setTimeout> | null = null;

  readonly #records = new Map<string, ConversationRecord>();
  /** Conversation of each pending message id, to find it again on its ack or rejection. */
  readonly #pendingConv = new Map<string, string>();
  readonly #knownUsers = new Map<string, User>();
  #refreshing = false;
  #refreshAgain = false;

  #presence: ReadonlyMap<string, PresenceEntry> = new Map();
  #typing: ReadonlyMap<string, readonly string[]> = new Map();
  /** The followed users as last sent, joined with commas, to send a list only when it changes. */
  #presenceKey = '';
  /** Activity state of the tab, kept so that the client of a new session starts with it. */
  #activity: ActivityState = 'foreground';

  readonly #dirty = new Set<string>();
  #emitScheduled = false;
  readonly #conversationViews = new Map<string, ConversationView>();
  readonly #threadViews = new Map<string, ThreadView>();
  #snapshot: ChatSnapshot;

  constructor(options: ChatModelOptions) {
    this.#options = options;
    this.#storage = options.storage;
    this.#now = options.now ?? Date.now;
    this.#stateStore = new LocalStorageStateStore(this.#storage, () => this.#client.userId);
    this.#client = this.#createClient();
    this.#snapshot = this.#buildSnapshot();
  }

  // -------------------------------------------------------------------------
  // Store interface for React

  subscribe = (listener: Listener): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getSnapshot = (): ChatSnapshot => this.#snapshot;

  // -------------------------------------------------------------------------
  // Session

  /** Resumes the session saved in storage, if any, and connects. */
  start(): void {
    const session = loadSession(this.#storage);
    if (session === null || session.user === undefined) {
      this.#changed();
      return;
    }
    this.#beginSession(session.user);
    this.#client.useSession(session);
    this.#connect();
  }

  /** Logs in; rejects with the API's error (for example wrong credentials) for the form to show. */
  async login(username: string, password: string): Promise<void> {
    const auth = await this.#client.login(username, password);
    this.#beginSession(auth.user);
    this.#connect();
  }

  /** Creates an account and signs in with it. */
  async register(username: string, password: string, displayName?: string): Promise<void> {
    const auth = await this.#client.register(username, password, displayName);
    this.#beginSession(auth.user);
    this.#connect();
  }

  /** Closes the connection and deletes the session and this user's client state. */
  async logout(): Promise<void> {
    await this.#endSession(null, { forgetState: true });
  }

  /**
   * Takes over tokens that another tab of the same browser saved. A refresh token is valid
   * for one use only, so only the tab that refreshed last has a valid one.
   */
  adoptStoredSession(text: string | null): void {
    if (this.#phase !== 'signed-in' || this.#me === null) return;
    if (text === null) {
      void this.#endSession('You logged out in another tab.', { forgetState: false });
      return;
    }
    const session = parseSession(text);
    const current = this.#client.session;
    if (session === null || session.user?.id !== this.#me.id) return;
    if (current !== null && current.refreshToken === session.refreshToken) return;
    this.#client.useSession(session);
  }

  /** Records the browser's network state, shown by the offline banner. */
  setBrowserOnline(online: boolean): void {
    if (this.#browserOnline === online) return;
    this.#browserOnline = online;
    this.#changed();
  }

  dismissNotice(): void {
    this.#notice = null;
    this.#changed();
  }

  // -------------------------------------------------------------------------
  // Conversations and messages

  /** Marks a conversation as the one on screen and loads its newest history page once. */
  openConversation(conv: string | null): void {
    this.#activeConv = conv;
    if (conv === null) return;
    const record = this.#record(conv);
    if (!record.loaded) void this.#loadLatest(record);
    // A group the user left is not readable through the group API any more.
    const group = record.group;
    if (record.kind === 'group' && group?.detailsLoaded !== true && group?.left !== true)
      void this.#loadGroup(record);
  }

  /** Loads the next older history page of a conversation, unless one is loading or none is left. */
  async loadOlder(conv: string): Promise<void> {
    const record = this.#record(conv);
    if (!record.loaded || !record.hasOlder || record.loadingOlder || record.cursor === null) return;
    const generation = this.#generation;
    record.loadingOlder = true;
    record.error = null;
    this.#touch(conv);
    try {
      const page = await this.#client.history(conv, { cursor: record.cursor, limit: HISTORY_PAGE_SIZE });
      if (generation !== this.#generation) return;
      for (const message of page.messages) this.#store(record, message);
      record.cursor = page.nextCursor;
      record.hasOlder = page.nextCursor !== null;
      record.coveredFrom = page.nextCursor === null ? 1 : lowestSeq(page.messages, record.coveredFrom);
      this.#recountUnread(record);
    } catch (err) {
      if (generation !== this.#generation) return;
      record.error = `Older messages could not be loaded: ${describeError(err)}`;
      this.#handleRequestError(err);
    } finally {
      if (generation === this.#generation) {
        record.loadingOlder = false;
        this.#touch(conv);
      }
    }
  }

  /** Retries the newest history page of a conversation after a failure. */
  retryHistory(conv: string): void {
    const record = this.#record(conv);
    if (!record.loaded) void this.#loadLatest(record);
    else void this.loadOlder(conv);
  }

  /**
   * Sends a message. It shows at once as `sending`, waits in the SDK's outbox (saved in
   * localStorage) while offline, and turns `sent` on its ack.
   */
  send(conv: string, body: string): void {
    if (this.#me === null) return;
    const record = this.#record(conv);
    const id = generateMessageId();
    record.pending.set(id, { id, body, createdAt: this.#now(), failure: null });
    this.#pendingConv.set(id, conv);
    this.#touch(conv);

    const client = this.#client;
    client.send({ conv }, body, { id }).catch((err: unknown) => {
      if (client !== this.#client) return;
      // A closed client keeps the message in its saved outbox and resends it on the next connect.
      if (err instanceof ClientClosedError) return;
      this.#failPending(id, describeError(err));
    });
  }

  /** Drops a message that the node rejected. */
  discardFailed(conv: string, id: string): void {
    const record = this.#record(conv);
    const pending = record.pending.get(id);
    if (pending?.failure == null) return;
    record.pending.delete(id);
    this.#pendingConv.delete(id);
    this.#touch(conv);
  }

  /**
   * Moves the user's read watermark to `seq` and sends the read receipt. Lower numbers than
   * the current watermark change nothing.
   */
  markRead(conv: string, seq: number): void {
    const me = this.#me;
    if (me === null || !Number.isInteger(seq) || seq < 1) return;
    const record = this.#record(conv);
    const member = this.#member(record, me.id);
    if (seq <= member.readSeq) return;

    const before = member.readSeq;
    this.#setMember(record, { ...member, readSeq: seq });
    if (!this.#recountUnread(record)) {
      record.unread = Math.max(0, record.unread - this.#countFromOthers(record, before, seq));
    }
    this.#client.markRead(conv, seq);
    this.#touch(conv);
  }

  /** Lists users whose user name starts with `prefix`, without the user. */
  async searchUsers(prefix: string): Promise<User[]> {
    const users = await this.#client.searchUsers(prefix);
    for (const user of users) this.#knownUsers.set(user.id, user);
    return users.filter((user) => user.id !== this.#me?.id);
  }

  /** Opens (or creates) the one-to-one conversation with `user` and returns its id. */
  async openDirect(user: User): Promise<string> {
    const me = this.#me;
    if (me === null) throw new NoSessionError();
    this.#knownUsers.set(user.id, user);
    const conv = await this.#client.openDirect(user.id);
    const record = this.#record(conv);
    this.#member(record, me.id);
    this.#member(record, user.id);
    this.#touch(conv);
    void this.#refreshConversations();
    return conv;
  }

  // -------------------------------------------------------------------------
  // Typing

  /**
   * Reports whether the user is typing in `conv`. The SDK sends a `start` at most every 3 s
   * while this keeps being called with true, and a `stop` only after a `start`. Large groups
   * have no typing, so nothing is sent there.
   */
  setTyping(conv: string, typing: boolean): void {
    const record = this.#records.get(conv);
    if (record?.group != null && (isLarge(record.group) || record.group.left)) return;
    this.#client.setTyping(conv, typing);
  }

  // -------------------------------------------------------------------------
  // Groups

  /** Creates a group with the user as its admin and `members` as founding members, and returns its id. */
  async createGroup(name: string, members: readonly User[], kind: GroupKind = 'group'): Promise<string> {
    const me = this.#me;
    if (me === null) throw new NoSessionError();
    for (const user of members) this.#knownUsers.set(user.id, user);
    const group = await this.#client.createGroup(name, { kind, members: members.map((user) => user.id) });
    this.#applyGroup(group);
    void this.#refreshConversations();
    return group.conv;
  }

  /** Renames a group. Only admins may, so others get the API's error. */
  async renameGroup(conv: string, name: string): Promise<void> {
    this.#applyGroup(await this.#client.renameGroup(groupIdOf(conv), name));
  }

  /** Adds users to a group (admins only). */
  async addGroupMembers(conv: string, users: readonly User[]): Promise<void> {
    for (const user of users) this.#knownUsers.set(user.id, user);
    const group = await this.#client.addMembers(
      groupIdOf(conv),
      users.map((user) => user.id),
    );
    this.#applyGroup(group);
  }

  /** Removes a member from a group (admins only). */
  async removeGroupMember(conv: string, userId: string): Promise<void> {
    this.#applyGroup(await this.#client.removeMember(groupIdOf(conv), userId));
  }

  /** Makes a member an admin (admins only). */
  async promoteGroupMember(conv: string, userId: string): Promise<void> {
    this.#applyGroup(await this.#client.promoteMember(groupIdOf(conv), userId));
  }

  /** Leaves a group. It stays in the list, read-only, with the messages up to the departure. */
  async leaveGroup(conv: string): Promise<void> {
    await this.#client.leaveGroup(groupIdOf(conv));
    const group = this.#records.get(conv)?.group;
    if (group != null) group.left = true;
    this.#touch(conv);
  }

  // -------------------------------------------------------------------------
  // Authenticated requests outside the SDK

  /**
   * Sends an authenticated request to the API and returns the response. A 401 refreshes the
   * tokens once and repeats the request, as the SDK does for its own requests.
   */
  async apiFetch(method: string, path: string, body?: unknown): Promise<Response> {
    const send = (token: string) =>
      fetch(new URL(path, this.#options.apiUrl), {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const session = this.#client.session;
    if (session === null) throw new NoSessionError();
    const response = await send(session.accessToken);
    if (response.status !== 401) return response;
    const refreshed = await this.#client.refresh();
    return send(refreshed.accessToken);
  }

  /**
   * Tells the node whether this tab is in the foreground. While every connection of the user
   * is in the background, new messages also go out as push notifications. The SDK sends the
   * state again after each reconnect.
   */
  setActivity(state: ActivityState): void {
    this.#activity = state;
    this.#client.setActivity(state);
  }

  /**
   * Returns the display name of any user this page has seen, former group members included,
   * or the id of a user it has not.
   */
  displayNameOf(userId: string): string {
    return this.#nameOf(userId);
  }

  /** Closes the client without forgetting anything, when the page goes away. */
  dispose(): void {
    this.#clearRefreshTimer();
    for (const off of this.#unwire) off();
    this.#unwire = [];
    void this.#client.close();
  }

  // -------------------------------------------------------------------------
  // Client events

  #createClient(): SwitchboardClient {
    const client = new SwitchboardClient({
      apiUrl: this.#options.apiUrl,
      state: this.#stateStore,
      // A browser tab comes back from a network change within seconds, so the backoff stays short.
      reconnect: { baseMs: 250, maxMs: 5000 },
      // A reload right after a send must still find the message in the saved outbox.
      stateSaveDelayMs: 0,
      ...this.#options.client,
    });
    client.setActivity(this.#activity);
    this.#unwire = [
      client.on('message', (frame) => this.#onMessage(frame)),
      client.on('membership', (frame) => this.#onMembership(frame)),
      client.on('presence', (entry) => this.#onPresence(entry)),
      client.on('typing', (event) => this.#onTyping(event.conv, event.user, event.typing)),
      client.on('ack', (frame) => this.#onAck(frame)),
      client.on('receipt', (frame) => this.#onReceipt(frame)),
      client.on('state', (status) => this.#onState(status)),
      client.on('session', (session) => this.#onSession(session)),
      client.on('error', (error) => this.#onClientError(error)),
      client.on('connected', (welcome) => {
        this.#maxBodyBytes = welcome.limits.maxBodyBytes;
      }),
    ];
    return client;
  }

  #beginSession(user: User): void {
    this.#me = user;
    this.#knownUsers.set(user.id, user);
    this.#phase = 'signed-in';
    this.#notice = null;
    this.#restoreOutbox(user);
    this.#changed();
  }

  /** Shows the saved outbox of the user as `sending` until the SDK resends it and the acks arrive. */
  #restoreOutbox(user: User): void {
    const state = this.#stateStore.peek(user.id);
    for (const entry of state?.outbox ?? []) {
      const conv =
        'conv' in entry.target ? entry.target.conv : buildDirectConversationId(user.id, entry.target.to);
      const record = this.#record(conv);
      record.pending.set(entry.id, {
        id: entry.id,
        body: entry.body,
        createdAt: entry.createdAt,
        failure: null,
      });
      this.#pendingConv.set(entry.id, conv);
      this.#touch(conv);
    }
  }

  #connect(): void {
    const client = this.#client;
    client.connect().catch((err: unknown) => {
      if (client !== this.#client || err instanceof ClientClosedError) return;
      if (isSessionRejected(err)) {
        this.#onSessionRejected();
        return;
      }
      if (err instanceof ConnectionStoppedError) {
        this.#notice = 'The server closed the connection for good. Reload the page to try again.';
        this.#changed();
      }
    });
    void this.#refreshConversations();
  }

  async #endSession(notice: string | null, options: { forgetState: boolean }): Promise<void> {
    const me = this.#me;
    const client = this.#client;
    this.#generation += 1;
    this.#clearRefreshTimer();
    for (const off of this.#unwire) off();
    this.#unwire = [];
    // close() saves the state once more, so the state is deleted only after it returns.
    await client.close().catch(() => undefined);
    clearSession(this.#storage);
    if (me !== null && options.forgetState) this.#stateStore.clear(me.id);

    this.#phase = 'signed-out';
    this.#me = null;
    this.#connection = 'idle';
    this.#everReady = false;
    this.#notice = notice;
    this.#announcement = null;
    this.#activeConv = null;
    this.#records.clear();
    this.#pendingConv.clear();
    this.#presence = new Map();
    this.#typing = new Map();
    this.#presenceKey = '';
    this.#conversationViews.clear();
    this.#threadViews.clear();
    this.#dirty.clear();
    this.#client = this.#createClient();
    this.#changed();
  }

  #onSession(session: Session): void {
    const user = session.user ?? this.#me ?? undefined;
    if (user === undefined) return;
    saveSession(this.#storage, { ...session, user });
    this.#scheduleRefresh(session);
  }

  /**
   * Refreshes the tokens shortly before the access token expires. Without it, the first
   * request after the expiry fails with 401 before the SDK refreshes, and the browser logs
   * that failure in the console.
   */
  #scheduleRefresh(session: Session): void {
    this.#clearRefreshTimer();
    const exp = readTokenExpiry(session.accessToken);
    if (exp === null) return;
    const aheadMs = this.#options.refreshAheadMs ?? DEFAULT_REFRESH_AHEAD_MS;
    const jitterMs = Math.random() * Math.min(REFRESH_JITTER_MS, aheadMs / 2);
    const delayMs = Math.max(1000, exp * 1000 - this.#now() - aheadMs + jitterMs);
    const client = this.#client;
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = null;
      client.refresh().catch((err: unknown) => {
        if (client === this.#client) this.#handleRequestError(err);
      });
    }, delayMs);
  }

  #clearRefreshTimer(): void {
    if (this.#refreshTimer !== null) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
  }

  /**
   * Ends the session after the server rejected its tokens, unless another tab of this
   * browser saved newer tokens for the same user: then those are used and the client
   * connects again.
   */
  #onSessionRejected(): void {
    const saved = loadSession(this.#storage);
    const current = this.#client.session;
    const newer =
      saved !== null &&
      saved.user?.id === this.#me?.id &&
      (current === null || saved.refreshToken !== current.refreshToken);
    if (!newer) {
      void this.#endSession(SESSION_ENDED_NOTICE, { forgetState: false });
      return;
    }
    this.#client.useSession(saved);
    this.#connect();
  }

  #onState(status: ConnectionStatus): void {
    this.#connection = status;
    if (status === 'ready') {
      this.#everReady = true;
      void this.#refreshConversations();
      // The newest page is fetched again, so a thread opened before the connection has no hole.
      const active = this.#activeConv === null ? undefined : this.#records.get(this.#activeConv);
      if (active?.loaded === true) void this.#loadLatest(active);
    }
    this.#changed();
  }

  #onMessage(frame: MessageFrame): void {
    const me = this.#me;
    if (me === null) return;
    const known = this.#records.has(frame.conv);
    const record = this.#record(frame.conv);
    if (record.stored.has(frame.seq)) return;

    const message: HistoryMessage = {
      conv: frame.conv,
      seq: frame.seq,
      from: frame.from,
      id: frame.id,
      body: frame.body,
      ts: frame.ts,
    };
    this.#store(record, message);
    if (frame.from !== me.id) {
      const readSeq = this.#member(record, me.id).readSeq;
      if (frame.seq > readSeq && !this.#recountUnread(record)) record.unread += 1;
      this.#announce(`New message from ${this.#nameOf(frame.from)}: ${frame.body}`);
    }
    if (!known) void this.#refreshConversations();
  }

  #onAck(frame: AckFrame): void {
    const conv = this.#pendingConv.get(frame.id) ?? frame.conv;
    const record = this.#records.get(conv);
    const pending = record?.pending.get(frame.id);
    if (record === undefined || pending === undefined || this.#me === null) return;
    this.#store(record, {
      conv: frame.conv,
      seq: frame.seq,
      from: this.#me.id,
      id: frame.id,
      body: pending.body,
      ts: frame.ts,
    });
  }

  /** Stores a group change as a system message and applies it to the group's members and name. */
  #onMembership(frame: MembershipEvent): void {
    const me = this.#me;
    if (me === null) return;
    const record = this.#record(frame.conv);
    if (record.stored.has(frame.seq)) return;
    const { event } = frame;
    this.#store(record, {
      conv: frame.conv,
      seq: frame.seq,
      from: frame.from,
      id: frame.id,
      body: frame.body,
      ts: frame.ts,
      event,
    });

    const group = this.#groupOf(record);
    if (event.name !== undefined) group.name = event.name;
    if (event.groupKind !== undefined) group.kind = event.groupKind;
    if (event.action === 'created') {
      this.#member(record, frame.from);
      group.admins.add(frame.from);
    }
    if (event.action === 'added' || event.action === 'created') {
      for (const user of event.users) this.#member(record, user);
      if (event.users.includes(me.id)) group.left = false;
    } else if (event.action === 'removed' || event.action === 'left') {
      for (const user of event.users) {
        record.members.delete(user);
        group.admins.delete(user);
      }
      if (event.users.includes(me.id)) group.left = true;
    } else if (event.action === 'promoted') {
      for (const user of event.users) group.admins.add(user);
    }
    group.memberCount = Math.max(group.memberCount, record.members.size);
    if (event.action !== 'renamed' && event.action !== 'promoted') group.memberCount = record.members.size;
    this.#touch(frame.conv);
    this.#announce(describeGroupEvent(event, frame.from, me.id, (id) => this.#nameOf(id)));

    // Names of added members and the roles come from the API.
    void this.#refreshConversations();
    if (!group.left && (group.detailsLoaded || this.#activeConv === frame.conv)) void this.#loadGroup(record);
  }

  #onPresence(entry: PresenceEntry): void {
    const next = new Map(this.#presence);
    next.set(entry.user, entry);
    this.#presence = next;
    this.#changed();
  }

  #onTyping(conv: string, user: string, typing: boolean): void {
    const current = this.#typing.get(conv) ?? [];
    if (current.includes(user) === typing) return;
    const next = new Map(this.#typing);
    const users = typing ? [...current, user] : current.filter((id) => id !== user);
    if (users.length === 0) next.delete(conv);
    else next.set(conv, users);
    this.#typing = next;
    this.#changed();
  }

  #onReceipt(frame: ReceiptFrame): void {
    const record = this.#record(frame.conv);
    const member = this.#member(record, frame.user);
    const field = frame.kind === 'read' ? 'readSeq' : 'deliveredSeq';
    if (frame.seq <= member[field]) return;
    this.#setMember(record, { ...member, [field]: frame.seq });
    // The user's own read receipt comes from another device that showed the messages.
    if (frame.user === this.#me?.id && frame.kind === 'read') {
      if (!this.#recountUnread(record)) {
        record.unread = Math.max(0, record.unread - this.#countFromOthers(record, member.readSeq, frame.seq));
      }
    }
    this.#touch(frame.conv);
  }

  #onClientError(error: ErrorFrame | Error): void {
    // The SDK retries what it can, so only a final rejection of a send changes the view.
    if (error instanceof Error) return;
    if (error.ref === undefined || error.retryable || !this.#pendingConv.has(error.ref)) return;
    this.#failPending(error.ref, error.message);
  }

  #failPending(id: string, reason: string): void {
    const conv = this.#pendingConv.get(id);
    const pending = conv === undefined ? undefined : this.#records.get(conv)?.pending.get(id);
    if (conv === undefined || pending === undefined) return;
    pending.failure = reason;
    this.#touch(conv);
  }

  #handleRequestError(err: unknown): void {
    if (isSessionRejected(err)) this.#onSessionRejected();
  }

  // -------------------------------------------------------------------------
  // Loading

  async #refreshConversations(): Promise<void> {
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return;
    }
    const generation = this.#generation;
    this.#refreshing = true;
    try {
      do {
        this.#refreshAgain = false;
        const summaries = await this.#client.conversations();
        if (generation !== this.#generation) return;
        for (const summary of summaries) this.#applySummary(summary);
      } while (this.#refreshAgain);
    } catch (err) {
      // Offline, the list stays as it is; the next `ready` loads it again.
      if (generation === this.#generation) this.#handleRequestError(err);
    } finally {
      this.#refreshing = false;
    }
  }

  /** Loads the newest history page and joins it to what is stored. */
  async #loadLatest(record: ConversationRecord): Promise<void> {
    if (record.loadingLatest) return;
    const generation = this.#generation;
    record.loadingLatest = true;
    record.error = null;
    try {
      const page = await this.#client.history(record.id, { limit: HISTORY_PAGE_SIZE });
      if (generation !== this.#generation) return;
      const overlaps = page.messages.some((message) => record.stored.has(message.seq));
      for (const message of page.messages) this.#store(record, message);
      // Without overlap, messages may be missing between this page and the stored ones. Paging
      // then restarts from this page, and older pages are joined again, each message once.
      if (!record.loaded || !overlaps) {
        record.cursor = page.nextCursor;
        record.hasOlder = page.nextCursor !== null;
        record.coveredFrom = page.nextCursor === null ? 1 : lowestSeq(page.messages, null);
      }
      record.loaded = true;
      this.#recountUnread(record);
    } catch (err) {
      if (generation !== this.#generation) return;
      record.error = `Messages could not be loaded: ${describeError(err)}`;
      this.#handleRequestError(err);
    } finally {
      if (generation === this.#generation) {
        record.loadingLatest = false;
        this.#touch(record.id);
      }
    }
  }

  /** Reads a group from the API for its admins and member count. */
  async #loadGroup(record: ConversationRecord): Promise<void> {
    const group = this.#groupOf(record);
    if (group.loadingDetails) return;
    const generation = this.#generation;
    group.loadingDetails = true;
    try {
      const info = await this.#client.getGroup(groupIdOf(record.id));
      if (generation === this.#generation) this.#applyGroup(info);
    } catch (err) {
      if (generation !== this.#generation) return;
      // A group the user left or was removed from is not found for them any more.
      if (err instanceof ApiError && err.status === 404) group.left = true;
      this.#handleRequestError(err);
      this.#touch(record.id);
    } finally {
      group.loadingDetails = false;
    }
  }

  /** Joins a group read from the API (or returned by a change) to the local state. */
  #applyGroup(info: GroupInfo): void {
    const record = this.#record(info.conv);
    record.kind = 'group';
    const group = this.#groupOf(record);
    group.name = info.name;
    group.kind = info.kind;
    group.memberCount = info.memberCount;
    group.admins = new Set(
      info.members.filter((member) => member.role === 'admin').map((member) => member.user),
    );
    group.detailsLoaded = true;
    const listed = new Set(info.members.map((member) => member.user));
    // The API lists at most 1,000 members, so a longer group keeps the members known from elsewhere.
    if (info.members.length === info.memberCount) {
      for (const id of [...record.members.keys()]) if (!listed.has(id)) record.members.delete(id);
    }
    for (const id of listed) this.#member(record, id);
    const me = this.#me?.id;
    group.left = me === undefined || (info.members.length === info.memberCount && !listed.has(me));
    this.#touch(info.conv);
  }

  #groupOf(record: ConversationRecord): GroupRecord {
    record.group ??= {
      name: '',
      kind: 'group',
      memberCount: record.members.size,
      admins: new Set(),
      detailsLoaded: false,
      loadingDetails: false,
      left: false,
    };
    return record.group;
  }

  /**
   * Joins a conversation summary from the API to the local state. Watermarks only move
   * forward, and the unread count is corrected for what this page has seen since.
   */
  #applySummary(summary: ConversationSummary): void {
    const me = this.#me;
    if (me === null) return;
    const record = this.#record(summary.id);
    record.kind = summary.kind;
    if (summary.group !== undefined) {
      const group = this.#groupOf(record);
      group.name = summary.group.name;
      group.kind = summary.group.kind;
      group.memberCount = Math.max(summary.members.length, group.detailsLoaded ? group.memberCount : 0);
      const stillMember = summary.members.some((member) => member.id === me.id);
      if (!stillMember) group.left = true;
      else if (!group.detailsLoaded) group.left = false;
    }
    const localRead = this.#member(record, me.id).readSeq;

    for (const member of summary.members) {
      this.#knownUsers.set(member.id, {
        id: member.id,
        username: member.username,
        displayName: member.displayName,
      });
      const current = record.members.get(member.id);
      this.#setMember(record, {
        id: member.id,
        username: member.username,
        displayName: member.displayName,
        deliveredSeq: Math.max(member.deliveredSeq, current?.deliveredSeq ?? 0),
        readSeq: Math.max(member.readSeq, current?.readSeq ?? 0),
      });
    }

    if (summary.group !== undefined) {
      // Members who left or were removed are gone from the summary. The user's own entry stays for the watermarks.
      const listed = new Set(summary.members.map((member) => member.id));
      for (const id of [...record.members.keys()])
        if (id !== me.id && !listed.has(id)) record.members.delete(id);
    }

    record.summaryLast = summary.lastMessage;
    const serverRead = summary.members.find((member) => member.id === me.id)?.readSeq ?? 0;
    const serverLast = summary.lastMessage?.seq ?? 0;
    let unread = summary.unread;
    // Messages read here after the server counted them, and messages that arrived after it counted.
    unread -= this.#countFromOthers(record, serverRead, Math.min(localRead, serverLast));
    unread += this.#countFromOthers(record, Math.max(serverLast, localRead), Number.MAX_SAFE_INTEGER);
    record.unread = Math.max(0, unread);
    this.#recountUnread(record);
    this.#touch(summary.id);
  }

  // -------------------------------------------------------------------------
  // Records

  #record(conv: string): ConversationRecord {
    const existing = this.#records.get(conv);
    if (existing !== undefined) return existing;

    const record: ConversationRecord = {
      id: conv,
      kind: conversationKind(conv),
      members: new Map(),
      stored: new Map(),
      pending: new Map(),
      summaryLast: null,
      unread: 0,
      coveredFrom: null,
      cursor: null,
      hasOlder: false,
      loaded: false,
      loadingLatest: false,
      loadingOlder: false,
      error: null,
      views: new Map(),
      group: null,
    };
    this.#records.set(conv, record);
    for (const id of directMembers(conv) ?? []) this.#member(record, id);
    this.#touch(conv);
    return record;
  }

  /** Returns a member of a conversation, adding one with zero watermarks when it is unknown. */
  #member(record: ConversationRecord, userId: string): MemberView {
    const existing = record.members.get(userId);
    if (existing !== undefined) return existing;
    const user = this.#knownUsers.get(userId);
    const member: MemberView = {
      id: userId,
      username: user?.username ?? userId,
      displayName: user?.displayName ?? user?.username ?? userId,
      deliveredSeq: 0,
      readSeq: 0,
    };
    record.members.set(userId, member);
    return member;
  }

  #setMember(record: ConversationRecord, member: MemberView): void {
    record.members.set(member.id, member);
    this.#touch(record.id);
  }

  #store(record: ConversationRecord, message: HistoryMessage): void {
    if (!record.stored.has(message.seq)) record.stored.set(message.seq, message);
    if (message.from === this.#me?.id && record.pending.delete(message.id)) {
      this.#pendingConv.delete(message.id);
    }
    this.#touch(record.id);
  }

  /** Counts stored messages from other members with `after < seq <= upTo`. */
  #countFromOthers(record: ConversationRecord, after: number, upTo: number): number {
    let count = 0;
    for (const message of record.stored.values()) {
      // System messages of group changes are not counted as unread.
      const counted = message.from !== this.#me?.id && message.event === undefined;
      if (message.seq > after && message.seq <= upTo && counted) count += 1;
    }
    return count;
  }

  /**
   * Counts the unread messages exactly when every message after the read watermark is
   * stored, and returns whether it could.
   */
  #recountUnread(record: ConversationRecord): boolean {
    const me = this.#me;
    if (me === null || record.coveredFrom === null) return false;
    const readSeq = this.#member(record, me.id).readSeq;
    if (readSeq < record.coveredFrom - 1) return false;
    record.unread = this.#countFromOthers(record, readSeq, Number.MAX_SAFE_INTEGER);
    return true;
  }

  #nameOf(userId: string): string {
    const user = this.#knownUsers.get(userId);
    return user?.displayName || user?.username || userId;
  }

  #announce(text: string): void {
    this.#announcement = { id: (this.#announcement?.id ?? 0) + 1, text };
    this.#changed();
  }

  // -------------------------------------------------------------------------
  // Snapshots

  #touch(conv: string): void {
    this.#dirty.add(conv);
    this.#changed();
  }

  #changed(): void {
    if (this.#emitScheduled) return;
    this.#emitScheduled = true;
    queueMicrotask(() => {
      this.#emitScheduled = false;
      this.#snapshot = this.#buildSnapshot();
      for (const listener of [...this.#listeners]) listener();
    });
  }

  #buildSnapshot(): ChatSnapshot {
    for (const conv of this.#dirty) {
      const record = this.#records.get(conv);
      if (record === undefined) continue;
      const thread = this.#buildThread(record);
      this.#threadViews.set(conv, thread);
      this.#conversationViews.set(conv, this.#buildConversation(record, thread));
    }
    this.#dirty.clear();

    const conversations = [...this.#conversationViews.values()].sort(
      (a, b) => b.activityTs - a.activityTs || a.id.localeCompare(b.id),
    );
    this.#followPresence(conversations);
    return {
      phase: this.#phase,
      me: this.#me,
      connection: this.#connection,
      everReady: this.#everReady,
      browserOnline: this.#browserOnline,
      conversations,
      threads: new Map(this.#threadViews),
      announcement: this.#announcement,
      presence: this.#presence,
      typing: this.#typing,
      notice: this.#notice,
      maxBodyBytes: this.#maxBodyBytes,
    };
  }

  /**
   * Follows the presence of the peers of the latest one-to-one conversations, at most
   * PRESENCE_PEERS_MAX of them. The SDK sends the list again after every reconnect.
   */
  #followPresence(conversations: readonly ConversationView[]): void {
    if (this.#phase !== 'signed-in') return;
    const peers: string[] = [];
    for (const conversation of conversations) {
      if (conversation.peer !== null && !peers.includes(conversation.peer.id))
        peers.push(conversation.peer.id);
      if (peers.length === PRESENCE_PEERS_MAX) break;
    }
    peers.sort();
    const key = peers.join(',');
    if (key === this.#presenceKey) return;
    this.#presenceKey = key;
    try {
      this.#client.subscribePresence(peers);
    } catch (err) {
      // Only an id the SDK rejects gets here, and presence then stays unknown.
      this.#onClientError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #buildThread(record: ConversationRecord): ThreadView {
    const me = this.#me?.id ?? null;
    const others = [...record.members.values()].filter((member) => member.id !== me);
    const messages: MessageView[] = [];
    const seen = new Set<string>();

    const stored = [...record.stored.values()].sort((a, b) => a.seq - b.seq);
    for (const message of stored) {
      const status: MessageStatus | null = message.from === me ? computeStatus(message.seq, others) : null;
      const { event, ...fields } = message;
      messages.push(this.#view(record, { ...fields, status, failure: null, event: event ?? null }, seen));
    }
    for (const pending of record.pending.values()) {
      if (seen.has(pending.id)) continue;
      const status: MessageStatus = pending.failure === null ? 'sending' : 'failed';
      const view = {
        id: pending.id,
        conv: record.id,
        seq: null,
        from: me ?? '',
        body: pending.body,
        ts: pending.createdAt,
        status,
        failure: pending.failure,
        event: null,
      };
      messages.push(this.#view(record, view, seen));
    }
    for (const key of record.views.keys()) if (!seen.has(key)) record.views.delete(key);

    return {
      conv: record.id,
      messages,
      hasOlder: record.hasOlder,
      loadingOlder: record.loadingOlder,
      loaded: record.loaded,
      error: record.error,
    };
  }

  /** Returns the cached view of a message when nothing shown changed, else a new one. */
  #view(record: ConversationRecord, fields: Omit<MessageView, 'key'>, seen: Set<string>): MessageView {
    const key = fields.id;
    seen.add(key);
    const cached = record.views.get(key);
    if (
      cached !== undefined &&
      cached.seq === fields.seq &&
      cached.status === fields.status &&
      cached.failure === fields.failure &&
      cached.ts === fields.ts
    ) {
      return cached;
    }
    const view: MessageView = { key, ...fields };
    record.views.set(key, view);
    return view;
  }

  #buildConversation(record: ConversationRecord, thread: ThreadView): ConversationView {
    const me = this.#me?.id ?? null;
    const members = [...record.members.values()];
    const others = members.filter((member) => member.id !== me);

    let lastMessage: MessageView | null = thread.messages.at(-1) ?? null;
    const summaryLast = record.summaryLast;
    if (
      summaryLast !== null &&
      (lastMessage === null || (lastMessage.seq !== null && lastMessage.seq < summaryLast.seq))
    ) {
      const status = summaryLast.from === me ? computeStatus(summaryLast.seq, others) : null;
      const { event, ...fields } = summaryLast;
      lastMessage = { key: summaryLast.id, ...fields, status, failure: null, event: event ?? null };
    }

    const group = record.group === null ? null : buildGroupView(record.group);
    return {
      id: record.id,
      kind: record.kind,
      title: buildTitle(record.kind, others, group?.name),
      members: group?.left === true ? others : members,
      peer: record.kind === 'direct' ? (others[0] ?? null) : null,
      group,
      lastMessage,
      unread: record.unread,
      activityTs: lastMessage?.ts ?? 0,
    };
  }
}

function buildGroupView(group: GroupRecord): GroupView {
  return {
    name: group.name,
    kind: group.kind,
    memberCount: group.memberCount,
    admins: [...group.admins].sort(),
    detailsLoaded: group.detailsLoaded,
    large: isLarge(group),
    left: group.left,
  };
}

function isLarge(group: GroupRecord): boolean {
  return group.memberCount > LARGE_GROUP_MEMBERS;
}

/** Returns the group id of a group conversation id, `g.<id>`. */
function groupIdOf(conv: string): string {
  if (!conv.startsWith('g.')) throw new Error(`"${conv}" is not a group conversation id`);
  return conv.slice(2);
}

function lowestSeq(messages: readonly HistoryMessage[], fallback: number | null): number | null {
  let lowest = fallback;
  for (const message of messages) if (lowest === null || message.seq < lowest) lowest = message.seq;
  return lowest;
}

/** True for failures that mean the session is gone: a rejected refresh token or no session. */
function isSessionRejected(err: unknown): boolean {
  if (err instanceof NoSessionError) return true;
  return err instanceof ApiError && (err.status === 401 || err.code === 'SWB_ERR_AUTH_REFRESH_INVALID');
}

function describeError(err: unknown): string {
  if (err instanceof SendRejectedError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
