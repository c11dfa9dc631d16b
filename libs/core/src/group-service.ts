import { randomBytes, randomUUID } from 'node:crypto';
import { ErrorCode, type GroupEvent, type GroupKind } from '@switchboard/protocol';
import { ForbiddenError, NotFoundError, SwitchboardError, UnavailableError } from './errors.ts';
import {
  buildGroupView,
  DEFAULT_LARGE_GROUP_THRESHOLD,
  isCurrentMember,
  type GroupView,
} from './group-rules.ts';
import type { Logger } from './logger.ts';
import type { Bus, ClusterEvent } from './ports/bus.ts';
import type { DurableLog, MessageRecord } from './ports/log.ts';
import type { Sequencer } from './ports/sequencer.ts';
import type { GroupMember, GroupRole, Store } from './ports/store.ts';

export interface GroupServiceOptions {
  store: Store;
  sequencer: Sequencer;
  log: DurableLog;
  bus: Bus;
  logger: Logger;
  /** Member count above which a group is large (SWB_LARGE_GROUP_THRESHOLD), 1,000 by default. */
  largeGroupThreshold?: number;
}

export interface CreateGroupRequest {
  name: string;
  kind: GroupKind;
  /** Founding members besides the creator, who becomes the first admin. */
  members: string[];
}

/** A current member as the group API shows it. */
export interface GroupMemberView {
  user: string;
  role: GroupRole;
  /** First sequence number the member may read: 0 for founders, else the event that added them. */
  joinedSeq: number;
}

/** A group as its members see it. */
export interface GroupDetails {
  /** Group id; the conversation id is `g.<id>`. */
  id: string;
  conv: string;
  kind: GroupKind;
  name: string;
  createdBy: string;
  createdAt: number;
  memberCount: number;
  /** Current members in user id order, at most `memberLimit` of them. */
  members: GroupMemberView[];
}

/** Characters of a generated group id; 16 characters of base64url carry 96 random bits. */
const GROUP_ID_BYTES = 12;

/**
 * Group changes: create, rename, add, remove, promote and leave.
 *
 * Each change is recorded as a system message in the group, with its own sequence number, so
 * every member's devices learn it through the same stream as the messages, in order. A change
 * of membership writes the member rows and a new version before it takes its number, which
 * lets the message path detect a stale cached member list by one read (see
 * `Messenger.send`). Then it fills in the number, appends the record and publishes it to every node.
 */
export class GroupService {
  readonly #store: Store;
  readonly #sequencer: Sequencer;
  readonly #log: DurableLog;
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #threshold: number;

  constructor(options: GroupServiceOptions) {
    this.#store = options.store;
    this.#sequencer = options.sequencer;
    this.#log = options.log;
    this.#bus = options.bus;
    this.#logger = options.logger;
    this.#threshold = options.largeGroupThreshold ?? DEFAULT_LARGE_GROUP_THRESHOLD;
  }

  /** Creates a group with `actor` as its admin and the named founding members. */
  async create(actor: string, request: CreateGroupRequest, memberLimit?: number): Promise<GroupDetails> {
    const users = unique([actor, ...request.members]);
    await this.#assertUsersExist(users.filter((user) => user !== actor));
    const conv = `g.${randomBytes(GROUP_ID_BYTES).toString('base64url')}`;
    const now = Date.now();
    const members = users.map((user): GroupMember => ({
      user,
      role: user === actor ? 'admin' : 'member',
      joinedSeq: 0,
      leftSeq: null,
    }));
    await this.#guard('create the group', () =>
      this.#store.createGroup(
        {
          conv,
          kind: request.kind,
          name: request.name,
          createdBy: actor,
          createdAt: now,
          version: newVersion(),
        },
        members,
      ),
    );

    const large = users.length > this.#threshold;
    const event: GroupEvent = { action: 'created', users, name: request.name, groupKind: request.kind };
    await this.#record(conv, actor, event, large ? [actor] : users, large);
    return this.describe(actor, conv, memberLimit);
  }

  /** Renames a group; admins only. */
  async rename(actor: string, conv: string, name: string, memberLimit?: number): Promise<GroupDetails> {
    const group = await this.#load(conv);
    this.#assertAdmin(group, actor);
    await this.#guard('rename the group', () => this.#store.renameGroup(conv, name));
    await this.#record(
      conv,
      actor,
      { action: 'renamed', users: [], name },
      this.#audience(group, [actor]),
      group.large,
    );
    return this.describe(actor, conv, memberLimit);
  }

  /**
   * Adds users to a group; admins only. Users who are members already are left out, and an
   * addition left in flight by a failure is completed.
   */
  async addMembers(
    actor: string,
    conv: string,
    users: string[],
    memberLimit?: number,
  ): Promise<GroupDetails> {
    const group = await this.#load(conv);
    this.#assertAdmin(group, actor);
    const added = unique(users).filter((user) => !isCurrentMember(group.members.get(user)));
    if (added.length === 0) return this.describe(actor, conv, memberLimit);
    await this.#assertUsersExist(added);

    const joining = added.map((user): GroupMember => ({
      user,
      role: 'member',
      joinedSeq: null,
      leftSeq: null,
    }));
    await this.#saveMembers(conv, joining);
    const after = await this.#load(conv);
    const large = after.current.length + added.length > this.#threshold;
    const targets = large ? [actor, ...added] : [...after.current, ...added];

    await this.#record(conv, actor, { action: 'added', users: added }, targets, large, (seq) =>
      this.#saveMembers(
        conv,
        joining.map((member) => ({ ...member, joinedSeq: seq })),
      ),
    );
    return this.describe(actor, conv, memberLimit);
  }

  /** Removes a member; admins only. A removal left in flight by a failure is completed. */
  async removeMember(actor: string, conv: string, user: string, memberLimit?: number): Promise<GroupDetails> {
    const group = await this.#load(conv);
    this.#assertAdmin(group, actor);
    await this.#end(group, actor, user, 'removed');
    return this.describe(actor, conv, memberLimit);
  }

  /**
   * Takes `actor` out of the group. When the last admin leaves, the member who joined first
   * becomes admin, so the group keeps someone who can change it.
   */
  async leave(actor: string, conv: string): Promise<void> {
    const group = await this.#load(conv);
    const member = group.members.get(actor);
    if (!isCurrentMember(member) && member?.leftSeq !== 0) throw notFound(conv);
    await this.#end(group, actor, actor, 'left');

    const after = await this.#load(conv);
    const admins = after.current.filter((user) => after.members.get(user)?.role === 'admin');
    if (admins.length > 0 || after.current.length === 0) return;
    const successor = [...after.current].sort(
      (a, b) =>
        (after.members.get(a)?.joinedSeq ?? 0) - (after.members.get(b)?.joinedSeq ?? 0) || compare(a, b),
    )[0]!;
    await this.#promote(after, actor, successor);
  }

  /** Makes a member an admin; admins only. */
  async promote(actor: string, conv: string, user: string, memberLimit?: number): Promise<GroupDetails> {
    const group = await this.#load(conv);
    this.#assertAdmin(group, actor);
    if (!isCurrentMember(group.members.get(user))) throw notAMember(user, conv);
    await this.#promote(group, actor, user);
    return this.describe(actor, conv, memberLimit);
  }

  /** Returns the group for one of its current members. */
  async describe(actor: string, conv: string, memberLimit = Number.MAX_SAFE_INTEGER): Promise<GroupDetails> {
    const group = await this.#load(conv);
    if (!isCurrentMember(group.members.get(actor))) throw notFound(conv);
    const record = await this.#guard('read the group', () => this.#store.getGroup(conv));
    if (record === null) throw notFound(conv);
    return {
      id: conv.slice(2),
      conv,
      kind: record.kind,
      name: record.name,
      createdBy: record.createdBy,
      createdAt: record.createdAt,
      memberCount: group.current.length,
      members: group.current.slice(0, memberLimit).map((user) => {
        const member = group.members.get(user)!;
        return { user, role: member.role, joinedSeq: member.joinedSeq ?? 0 };
      }),
    };
  }

  async #promote(group: GroupView, actor: string, user: string): Promise<void> {
    const member = group.members.get(user)!;
    if (member.role === 'admin') return;
    await this.#saveMembers(group.conv, [{ ...member, role: 'admin' }]);
    await this.#record(
      group.conv,
      actor,
      { action: 'promoted', users: [user] },
      this.#audience(group, [actor, user]),
      group.large,
    );
  }

  /** Ends the membership of `user`, recording the change as `action`. */
  async #end(group: GroupView, actor: string, user: string, action: 'removed' | 'left'): Promise<void> {
    const member = group.members.get(user);
    const inFlight = member !== undefined && member.leftSeq === 0;
    if (!isCurrentMember(member) && !inFlight) throw notAMember(user, group.conv);

    await this.#saveMembers(group.conv, [{ ...member!, leftSeq: 0 }]);
    const after = await this.#load(group.conv);
    // The leaving user gets the event too, so their devices learn why the group went quiet.
    const targets = after.large ? [actor, user] : [...after.current, user];
    await this.#record(group.conv, actor, { action, users: [user] }, targets, after.large, (seq) =>
      this.#saveMembers(group.conv, [{ ...member!, leftSeq: seq }]),
    );
  }

  /** Members who get an event in their streams: everyone in a small group, else only those named. */
  #audience(group: GroupView, named: string[]): string[] {
    return group.large ? named : [...group.current, ...named];
  }

  /**
   * Takes the event's sequence number, lets `settle` fill it into the member rows, appends the
   * event to the log and publishes it to every node.
   */
  async #record(
    conv: string,
    actor: string,
    event: GroupEvent,
    targets: string[],
    large: boolean,
    settle?: (seq: number) => Promise<void>,
  ): Promise<MessageRecord> {
    const now = Date.now();
    // The frame decoder accepts client ids of A-Z a-z 0-9 _ - only, so an id with a dot never
    // collides with one that a client chose.
    const clientId = `sys.${randomUUID()}`;
    const reservation = await this.#guard('reserve a sequence number', () =>
      this.#sequencer.reserve({ sender: actor, clientId, conv, targets: unique(targets), now }),
    );
    await settle?.(reservation.seq);

    const record: MessageRecord = {
      kind: 'message',
      conv,
      seq: reservation.seq,
      from: actor,
      id: clientId,
      body: '',
      ts: reservation.ts,
      targets: reservation.positions,
      event,
    };
    await this.#guard('append the group change to the log', () => this.#log.append([record]));
    this.#logger.info(
      { conv, seq: record.seq, action: event.action, users: event.users.length },
      'group changed',
    );

    await this.#publish({ kind: 'conversation-changed', conv });
    await this.#publish({ kind: 'records', records: [record] });
    if (large) await this.#publish({ kind: 'channel-advanced', conv, seq: record.seq });
    return record;
  }

  /** Writes member rows under a new version and has the nodes drop their cached copies. */
  async #saveMembers(conv: string, members: GroupMember[]): Promise<void> {
    await this.#guard('save the group members', () =>
      this.#store.saveGroupMembers(conv, members, newVersion()),
    );
    await this.#publish({ kind: 'conversation-changed', conv });
  }

  async #load(conv: string): Promise<GroupView> {
    const [record, members] = await this.#guard('load the group', () =>
      Promise.all([this.#store.getGroup(conv), this.#store.listGroupMembers(conv)]),
    );
    if (record === null) throw notFound(conv);
    return buildGroupView(record, members, this.#threshold);
  }

  #assertAdmin(group: GroupView, actor: string): void {
    const member = group.members.get(actor);
    if (member === undefined || !isCurrentMember(member)) throw notFound(group.conv);
    if (member.role !== 'admin') {
      throw new ForbiddenError(`only admins of ${group.conv} may change it; ask an admin`);
    }
  }

  async #assertUsersExist(users: string[]): Promise<void> {
    const records = await this.#guard('look up the users', () =>
      Promise.all(users.map((user) => this.#store.getUser(user))),
    );
    const missing = users.find((_, index) => records[index] === null);
    if (missing !== undefined)
      throw new NotFoundError(ErrorCode.UserNotFound, `user ${missing} does not exist`);
  }

  /** Publishes a cluster event. Live delivery is best effort, so a failure is logged, not thrown. */
  async #publish(event: ClusterEvent): Promise<void> {
    try {
      await this.#bus.publishEvent(event);
    } catch (err) {
      this.#logger.warn({ err, kind: event.kind }, 'cluster event publish failed');
    }
  }

  async #guard<T>(action: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof SwitchboardError) throw err;
      this.#logger.warn({ err, action }, 'dependency call failed');
      throw new UnavailableError(`failed to ${action}; retry`, { cause: err });
    }
  }
}

function newVersion(): string {
  return randomUUID();
}

function unique(users: string[]): string[] {
  return [...new Set(users)];
}

function compare(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

function notFound(conv: string): NotFoundError {
  return new NotFoundError(ErrorCode.ConversationNotFound, `conversation ${conv} does not exist`);
}

function notAMember(user: string, conv: string): NotFoundError {
  return new NotFoundError(ErrorCode.UserNotFound, `user ${user} is not a member of ${conv}`);
}
