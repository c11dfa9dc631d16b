import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, buildDirectConversationId } from '@switchboard/protocol';
import { ConflictError } from '../errors.ts';
import type {
  GroupMember,
  GroupRecord,
  LogRecord,
  Sequencer,
  Store,
  StoredMessage,
  UserRecord,
} from '../ports/index.ts';
import { buildMessage, buildReceipt } from './test-records.ts';
import { uniqueId } from './wait-for.ts';

export interface StoreFixture {
  store: Store;
  /** The sequencer over the same storage; the sequencer contract needs it. */
  sequencer?: Sequencer;
  close(): Promise<void>;
}

function buildUser(id: string, username = id): UserRecord {
  return {
    id,
    username,
    displayName: `User ${id}`,
    passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
    createdAt: 1_700_000_000_000,
  };
}

function toStored(record: LogRecord): StoredMessage {
  if (record.kind !== 'message') throw new Error('expected a message record');
  const message: StoredMessage = {
    conv: record.conv,
    seq: record.seq,
    from: record.from,
    id: record.id,
    body: record.body,
    ts: record.ts,
  };
  if (record.event !== undefined) message.event = record.event;
  if (record.hiddenFrom !== undefined) message.hiddenFrom = record.hiddenFrom;
  return message;
}

function buildGroup(conv: string, createdBy: string, version = 'v1'): GroupRecord {
  return { conv, kind: 'group', name: 'Team', createdBy, createdAt: 1_000, version };
}

function buildMember(user: string, overrides: Partial<GroupMember> = {}): GroupMember {
  return { user, role: 'member', joinedSeq: 0, leftSeq: null, ...overrides };
}

function seqs(messages: StoredMessage[]): number[] {
  return messages.map((message) => message.seq);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

/**
 * Declares the behaviour every Store adapter must have.
 *
 * User names, user ids and conversation ids carry a random suffix, so the suite can run
 * against a database that other runs share.
 */
export function runStoreContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`${name} store contract`, () => {
    let fixture: StoreFixture;
    let store: Store;
    let alice: string;
    let bob: string;
    let carol: string;
    let conv: string;

    /** Applies messages `from..to` of `conv`, alternating senders, each on both streams at pos = seq. */
    const applyMessages = async (from: number, to: number): Promise<LogRecord[]> => {
      const records = range(from, to).map((seq) =>
        buildMessage(conv, seq, seq % 2 === 0 ? bob : alice, [
          { user: alice, pos: seq },
          { user: bob, pos: seq },
        ]),
      );
      await store.applyRecords(records);
      return records;
    };

    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
      alice = uniqueId('alice');
      bob = uniqueId('bob');
      carol = uniqueId('carol');
      conv = buildDirectConversationId(alice, bob);
    });

    afterEach(async () => {
      await fixture.close();
    });

    describe('users', () => {
      it('finds a created user by id and by name in any case', async () => {
        const user = buildUser(alice);
        await store.createUser(user);

        expect(await store.getUser(alice)).toEqual(user);
        expect(await store.findUserByName(alice.toUpperCase())).toEqual(user);
      });

      it('returns null for an unknown user', async () => {
        expect(await store.getUser(uniqueId('nobody'))).toBeNull();
        expect(await store.findUserByName(uniqueId('nobody'))).toBeNull();
      });

      it('rejects a taken user name in any case', async () => {
        await store.createUser(buildUser(alice));

        const duplicate = store.createUser(buildUser(bob, alice.toUpperCase()));

        await expect(duplicate).rejects.toBeInstanceOf(ConflictError);
        await expect(duplicate).rejects.toMatchObject({ code: ErrorCode.UsernameTaken });
        expect(await store.getUser(bob)).toBeNull();
      });

      it('searches users by name prefix in name order', async () => {
        const prefix = uniqueId('team');
        for (const suffix of ['carol', 'alice', 'bob']) {
          await store.createUser(buildUser(`${prefix}-${suffix}`));
        }
        await store.createUser(buildUser(uniqueId('other')));

        const all = await store.searchUsers(prefix, 10);
        const firstTwo = await store.searchUsers(prefix.toUpperCase(), 2);

        expect(all.map((user) => user.username)).toEqual([
          `${prefix}-alice`,
          `${prefix}-bob`,
          `${prefix}-carol`,
        ]);
        expect(firstTwo.map((user) => user.username)).toEqual([`${prefix}-alice`, `${prefix}-bob`]);
      });
    });

    describe('refresh tokens', () => {
      it('consumes a refresh token only once', async () => {
        const hash = uniqueId('hash');
        await store.saveRefreshToken(hash, alice, 2_000);

        expect(await store.consumeRefreshToken(hash, 1_000)).toBe(alice);
        expect(await store.consumeRefreshToken(hash, 1_000)).toBeNull();
      });

      it('rejects an expired refresh token', async () => {
        const hash = uniqueId('hash');
        await store.saveRefreshToken(hash, alice, 2_000);

        expect(await store.consumeRefreshToken(hash, 2_001)).toBeNull();
      });

      it('returns null for an unknown refresh token', async () => {
        expect(await store.consumeRefreshToken(uniqueId('hash'), 1_000)).toBeNull();
      });
    });

    describe('conversations', () => {
      it('creates a direct conversation once', async () => {
        await store.ensureDirectConversation(conv, [bob, alice], 1_000);
        await store.ensureDirectConversation(conv, [alice, bob], 2_000);

        const conversation = await store.getConversation(conv);

        expect(conversation?.id).toBe(conv);
        expect(conversation?.kind).toBe('direct');
        expect(conversation?.members.slice().sort()).toEqual([alice, bob].sort());
        expect(conversation?.createdAt).toBe(1_000);
      });

      it('returns null for an unknown conversation', async () => {
        expect(await store.getConversation(`g.${uniqueId('group')}`)).toBeNull();
      });

      it('lists only the conversations of the user', async () => {
        const other = buildDirectConversationId(alice, carol);
        await store.ensureDirectConversation(conv, [alice, bob], 1_000);
        await store.ensureDirectConversation(other, [alice, carol], 1_000);

        const ofAlice = (await store.listConversations(alice)).map((summary) => summary.id);
        const ofBob = (await store.listConversations(bob)).map((summary) => summary.id);
        const ofStranger = await store.listConversations(uniqueId('dave'));

        expect(ofAlice.sort()).toEqual([conv, other].sort());
        expect(ofBob).toEqual([conv]);
        expect(ofStranger).toEqual([]);
      });

      it('lists conversations by newest activity first', async () => {
        const older = buildDirectConversationId(alice, carol);
        await store.ensureDirectConversation(older, [alice, carol], 1_000);
        await store.ensureDirectConversation(conv, [alice, bob], 2_000);
        await store.applyRecords([buildMessage(older, 1, carol, [], { ts: 5_000 })]);

        const beforeReply = (await store.listConversations(alice)).map((summary) => summary.id);
        await store.applyRecords([buildMessage(conv, 1, bob, [], { ts: 6_000 })]);
        const afterReply = (await store.listConversations(alice)).map((summary) => summary.id);

        expect(beforeReply).toEqual([older, conv]);
        expect(afterReply).toEqual([conv, older]);
      });

      it('counts unread messages from other members', async () => {
        await store.ensureDirectConversation(conv, [alice, bob], 1_000);
        await store.applyRecords([
          buildMessage(conv, 1, alice),
          buildMessage(conv, 2, bob),
          buildMessage(conv, 3, alice),
          buildMessage(conv, 4, bob),
          buildMessage(conv, 5, bob),
        ]);

        const unreadBefore = (await store.listConversations(alice))[0]!;
        await store.applyRecords([
          buildReceipt(conv, alice, 'read', 4),
          buildReceipt(conv, bob, 'delivered', 3),
        ]);
        const forAlice = (await store.listConversations(alice))[0]!;
        const forBob = (await store.listConversations(bob))[0]!;

        expect(unreadBefore.unread).toBe(3);
        expect(forAlice.unread).toBe(1);
        expect(forBob.unread).toBe(2);
        expect(forAlice.lastMessage?.seq).toBe(5);
        expect(forAlice.memberStates.find((state) => state.user === alice)).toEqual({
          user: alice,
          deliveredSeq: 0,
          readSeq: 4,
        });
        expect(forAlice.memberStates.find((state) => state.user === bob)).toEqual({
          user: bob,
          deliveredSeq: 3,
          readSeq: 0,
        });
      });

      it('never lowers a receipt watermark', async () => {
        await store.ensureDirectConversation(conv, [alice, bob], 1_000);
        await store.applyRecords([
          buildReceipt(conv, bob, 'read', 5),
          buildReceipt(conv, bob, 'delivered', 6),
        ]);
        await store.applyRecords([
          buildReceipt(conv, bob, 'read', 3),
          buildReceipt(conv, bob, 'delivered', 2),
        ]);

        const summary = (await store.listConversations(bob))[0]!;
        const bobState = summary.memberStates.find((state) => state.user === bob);

        expect(bobState).toEqual({ user: bob, deliveredSeq: 6, readSeq: 5 });
      });
    });

    describe('records', () => {
      it('applies the same records twice with one result', async () => {
        await store.ensureDirectConversation(conv, [alice, bob], 1_000);
        const records: LogRecord[] = [
          buildMessage(conv, 1, alice, [
            { user: alice, pos: 1 },
            { user: bob, pos: 1 },
          ]),
          buildMessage(conv, 2, bob, [
            { user: alice, pos: 2 },
            { user: bob, pos: 2 },
          ]),
          buildReceipt(conv, bob, 'read', 1, [{ user: alice, pos: 3 }]),
        ];
        const snapshot = async () => ({
          history: await store.history(conv, { afterSeq: 0, limit: 100 }),
          aliceStream: await store.readStream(alice, 0, 100),
          bobStream: await store.readStream(bob, 0, 100),
          conversations: await store.listConversations(alice),
          maxSeq: await store.maxSeq(conv),
          maxStreamPos: await store.maxStreamPos(alice),
        });

        await store.applyRecords(records);
        const once = await snapshot();
        await store.applyRecords(records);
        await store.applyRecords(records.slice(1));
        const again = await snapshot();

        expect(once.history).toHaveLength(2);
        expect(once.aliceStream).toHaveLength(3);
        expect(again).toEqual(once);
      });

      it('returns the highest stored sequence number and stream position', async () => {
        expect(await store.maxSeq(conv)).toBe(0);
        expect(await store.maxStreamPos(alice)).toBe(0);

        await store.applyRecords([
          buildMessage(conv, 7, alice, [{ user: alice, pos: 11 }]),
          buildMessage(conv, 3, alice, [{ user: alice, pos: 4 }]),
        ]);

        expect(await store.maxSeq(conv)).toBe(7);
        expect(await store.maxStreamPos(alice)).toBe(11);
      });

      it('reads a sync stream in position order with a limit', async () => {
        await store.ensureDirectConversation(conv, [alice, bob], 1_000);
        const first = buildMessage(conv, 1, bob, [{ user: alice, pos: 1 }]);
        const second = buildMessage(conv, 2, bob, [{ user: alice, pos: 2 }]);
        const receipt = buildReceipt(conv, bob, 'read', 2, [{ user: alice, pos: 3 }]);
        const third = buildMessage(conv, 3, bob, [{ user: alice, pos: 4 }]);
        await store.applyRecords([receipt, second]);
        await store.applyRecords([third, first]);

        const head = await store.readStream(alice, 0, 2);
        const tail = await store.readStream(alice, 2, 10);

        expect(head).toEqual([
          { pos: 1, kind: 'message', message: toStored(first) },
          { pos: 2, kind: 'message', message: toStored(second) },
        ]);
        expect(tail).toEqual([
          { pos: 3, kind: 'receipt', receipt: { conv, user: bob, receipt: 'read', seq: 2, ts: receipt.ts } },
          { pos: 4, kind: 'message', message: toStored(third) },
        ]);
        expect(await store.readStream(alice, 4, 10)).toEqual([]);
      });
    });

    describe('history', () => {
      it('pages newest first without gaps or repeats', async () => {
        await store.ensureDirectConversation(conv, [alice, bob], 1_000);
        await applyMessages(1, 25);

        const seen: number[] = [];
        let beforeSeq = Number.MAX_SAFE_INTEGER;
        let next = 26;
        for (let page = 0; page < 10; page += 1) {
          const messages = await store.history(conv, { beforeSeq, limit: 10 });
          if (messages.length === 0) break;
          seen.push(...seqs(messages));
          beforeSeq = messages.at(-1)!.seq;
          await applyMessages(next, next + 1);
          next += 2;
        }

        expect(seen).toEqual(range(1, 25).reverse());
      });

      it('pages oldest first without gaps or repeats', async () => {
        await store.ensureDirectConversation(conv, [alice, bob], 1_000);
        await applyMessages(1, 12);

        const seen: number[] = [];
        let afterSeq = 0;
        let next = 13;
        for (let page = 0; page < 20; page += 1) {
          const messages = await store.history(conv, { afterSeq, limit: 5 });
          if (messages.length === 0) break;
          seen.push(...seqs(messages));
          afterSeq = messages.at(-1)!.seq;
          if (next <= 20) {
            await applyMessages(next, next + 1);
            next += 2;
          }
        }

        expect(seen).toEqual(range(1, 20));
      });

      it('returns full message fields in a page', async () => {
        await store.ensureDirectConversation(conv, [alice, bob], 1_000);
        const records = await applyMessages(1, 3);

        const page = await store.history(conv, { beforeSeq: 3, limit: 10 });

        expect(page).toEqual([toStored(records[1]!), toStored(records[0]!)]);
      });

      it('returns the messages of a sequence range in order', async () => {
        await store.ensureDirectConversation(conv, [alice, bob], 1_000);
        await applyMessages(1, 6);
        await applyMessages(8, 9);

        expect(seqs(await store.messagesInRange(conv, 5, 8))).toEqual([5, 6, 8]);
        expect(await store.messagesInRange(conv, 20, 30)).toEqual([]);
      });
    });

    describe('groups', () => {
      let group: string;

      beforeEach(() => {
        group = `g.${uniqueId('group')}`;
      });

      it('creates a group with its members and roles', async () => {
        await store.createGroup(buildGroup(group, alice), [
          buildMember(alice, { role: 'admin' }),
          buildMember(bob),
        ]);

        const record = await store.getGroup(group);
        const conversation = await store.getConversation(group);
        const members = await store.listGroupMembers(group);

        expect(record).toEqual(buildGroup(group, alice));
        expect(conversation?.kind).toBe('group');
        expect(conversation?.members.slice().sort()).toEqual([alice, bob].sort());
        expect(members.map((member) => member.user)).toEqual([alice, bob].sort());
        expect(await store.getGroupMember(group, alice)).toEqual(buildMember(alice, { role: 'admin' }));
      });

      it('rejects a second group with the same id', async () => {
        await store.createGroup(buildGroup(group, alice), [buildMember(alice, { role: 'admin' })]);

        const again = store.createGroup(buildGroup(group, bob), [buildMember(bob, { role: 'admin' })]);

        await expect(again).rejects.toMatchObject({ code: ErrorCode.IdConflict });
        expect((await store.getGroup(group))?.createdBy).toBe(alice);
        expect(await store.getGroupMember(group, bob)).toBeNull();
      });

      it('returns null for an unknown group or member', async () => {
        expect(await store.getGroup(`g.${uniqueId('group')}`)).toBeNull();
        expect(await store.getGroupMember(`g.${uniqueId('group')}`, alice)).toBeNull();
      });

      it('renames a group', async () => {
        await store.createGroup(buildGroup(group, alice), [buildMember(alice, { role: 'admin' })]);

        await store.renameGroup(group, 'Renamed');

        expect((await store.getGroup(group))?.name).toBe('Renamed');
      });

      it('lists as members only those not joining or gone', async () => {
        await store.createGroup(buildGroup(group, alice), [
          buildMember(alice, { role: 'admin' }),
          buildMember(bob),
        ]);

        await store.saveGroupMembers(
          group,
          [buildMember(carol, { joinedSeq: null }), buildMember(bob, { leftSeq: 0 })],
          'v2',
        );
        const during = await store.getConversation(group);
        await store.saveGroupMembers(
          group,
          [buildMember(carol, { joinedSeq: 4 }), buildMember(bob, { leftSeq: 3 })],
          'v3',
        );
        const after = await store.getConversation(group);

        expect(during?.members).toEqual([alice]);
        expect(after?.members.slice().sort()).toEqual([alice, carol].sort());
        expect((await store.getGroup(group))?.version).toBe('v3');
        expect(await store.getGroupMember(group, bob)).toEqual(buildMember(bob, { leftSeq: 3 }));
        expect(await store.getGroupMember(group, carol)).toEqual(buildMember(carol, { joinedSeq: 4 }));
        expect(await store.listGroupMembers(group)).toHaveLength(3);
      });

      it('lists a group only for its current members', async () => {
        await store.createGroup(buildGroup(group, alice), [
          buildMember(alice, { role: 'admin' }),
          buildMember(bob),
        ]);

        const ofBob = (await store.listConversations(bob)).map((summary) => summary.id);
        await store.saveGroupMembers(group, [buildMember(bob, { leftSeq: 2 })], 'v2');
        const ofBobAfter = (await store.listConversations(bob)).map((summary) => summary.id);
        const ofAlice = await store.listConversations(alice);

        expect(ofBob).toEqual([group]);
        expect(ofBobAfter).toEqual([]);
        expect(ofAlice.map((summary) => summary.id)).toEqual([group]);
        expect(ofAlice[0]?.group).toEqual({ name: 'Team', kind: 'group' });
        expect(ofAlice[0]?.members).toEqual([alice]);
      });

      it('gives a former member back their place when added again', async () => {
        await store.createGroup(buildGroup(group, alice), [buildMember(alice, { role: 'admin' })]);
        await store.saveGroupMembers(group, [buildMember(bob, { joinedSeq: 2, leftSeq: 5 })], 'v2');

        await store.saveGroupMembers(group, [buildMember(bob, { joinedSeq: 9, role: 'admin' })], 'v3');

        expect(await store.getGroupMember(group, bob)).toEqual(
          buildMember(bob, { joinedSeq: 9, role: 'admin' }),
        );
        expect((await store.getConversation(group))?.members.slice().sort()).toEqual([alice, bob].sort());
      });

      it('keeps the group change of a system message', async () => {
        await store.createGroup(buildGroup(group, alice), [buildMember(alice, { role: 'admin' })]);
        const event = buildMessage(group, 1, alice, [{ user: alice, pos: 1 }], {
          body: '',
          event: { action: 'created', users: [alice], name: 'Team', groupKind: 'group' },
        });

        await store.applyRecords([event]);

        expect(await store.messagesInRange(group, 1, 1)).toEqual([toStored(event)]);
        expect(await store.readStream(alice, 0, 10)).toEqual([
          { pos: 1, kind: 'message', message: toStored(event) },
        ]);
        expect((await store.listConversations(alice))[0]?.lastMessage).toEqual(toStored(event));
      });
    });

    describe('blocks', () => {
      it('lists blocks from both sides', async () => {
        await store.blockUser(alice, bob, 1_000);
        await store.blockUser(alice, carol, 1_000);
        await store.blockUser(carol, bob, 1_000);
        await store.blockUser(alice, bob, 2_000);

        expect(await store.listBlocked(alice)).toEqual([bob, carol].sort());
        expect(await store.listBlockers(bob)).toEqual([alice, carol].sort());
        expect(await store.listBlocked(bob)).toEqual([]);
        expect(await store.isBlocked(alice, bob)).toBe(true);
        expect(await store.isBlocked(bob, alice)).toBe(false);
      });

      it('removes a block on unblock', async () => {
        await store.blockUser(alice, bob, 1_000);

        await store.unblockUser(alice, bob);
        await store.unblockUser(alice, bob);

        expect(await store.listBlocked(alice)).toEqual([]);
        expect(await store.listBlockers(bob)).toEqual([]);
        expect(await store.isBlocked(alice, bob)).toBe(false);
      });

      it('hides a message from its blocker in the conversation list', async () => {
        await store.ensureDirectConversation(conv, [alice, bob], 1_000);
        const visible = buildMessage(conv, 1, bob);
        const hidden = buildMessage(conv, 2, bob, [{ user: bob, pos: 1 }], { hiddenFrom: alice });

        await store.applyRecords([visible, hidden]);
        const forAlice = (await store.listConversations(alice))[0];
        const forBob = (await store.listConversations(bob))[0];

        expect(forAlice?.lastMessage).toEqual(toStored(visible));
        expect(forAlice?.unread).toBe(1);
        expect(forBob?.lastMessage).toEqual(toStored(hidden));
        expect(await store.messagesInRange(conv, 2, 2)).toEqual([toStored(hidden)]);
      });
    });
  });
}
