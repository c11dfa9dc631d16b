import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileLog, InProcessBus, openSqlite, type SqliteHandle } from '@switchboard/embedded';
import { ErrorCode } from '@switchboard/protocol';
import { ForbiddenError, NotFoundError } from './errors.ts';
import { GroupService } from './group-service.ts';
import { createLogger } from './logger.ts';
import { Messenger } from './messenger.ts';
import type { MessageRecord } from './ports/index.ts';

/**
 * The message path of groups over real SQLite, a real file log and an in-process bus.
 *
 * The Messenger here is never told of membership changes, as a chat node whose invalidation
 * has not arrived yet, so these tests show what the check after the reservation does alone.
 */
describe('Messenger with groups', () => {
  let dir: string;
  let sqlite: SqliteHandle;
  let log: FileLog;
  let bus: InProcessBus;
  let groups: GroupService;
  let messenger: Messenger;
  let sent = 0;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-group-messenger-'));
    sqlite = openSqlite(join(dir, 'db.sqlite'));
    log = await FileLog.open({ dir: join(dir, 'log') });
    bus = new InProcessBus();
    const logger = createLogger('test', { level: 'silent' });
    groups = new GroupService({
      store: sqlite.store,
      sequencer: sqlite.sequencer,
      log,
      bus,
      logger,
      largeGroupThreshold: 3,
    });
    messenger = new Messenger({
      store: sqlite.store,
      sequencer: sqlite.sequencer,
      log,
      logger,
      persisterGroup: 'persister',
      largeGroupThreshold: 3,
    });
    for (const id of ['alice', 'bob', 'carol', 'dave', 'erin']) {
      await sqlite.store.createUser({ id, username: id, displayName: id, passwordHash: 'x', createdAt: 1 });
    }
  });

  afterEach(async () => {
    await log.close();
    await bus.close();
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function send(user: string, conv: string): Promise<MessageRecord> {
    sent += 1;
    const accepted = await messenger.send(user, {
      type: 'send',
      id: `m${sent}`,
      conv,
      body: `message ${sent}`,
    });
    if (accepted.record === null) throw new Error('expected a new record');
    return accepted.record;
  }

  function targetsOf(record: MessageRecord): string[] {
    return record.targets.map((target) => target.user).sort();
  }

  it('rejects a send whose sender was removed after the view was cached', async () => {
    const group = await groups.create('alice', { name: 'Team', kind: 'group', members: ['bob', 'carol'] });
    await send('bob', group.conv);

    await groups.removeMember('alice', group.conv, 'bob');
    const attempt = send('bob', group.conv);

    await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
    await expect(attempt).rejects.toMatchObject({ code: ErrorCode.ConversationNotFound });
  });

  it('leaves a removed member out of messages after the removal', async () => {
    const group = await groups.create('alice', { name: 'Team', kind: 'group', members: ['bob', 'carol'] });
    const before = await send('alice', group.conv);

    await groups.removeMember('alice', group.conv, 'bob');
    const after = await send('alice', group.conv);

    expect(targetsOf(before)).toEqual(['alice', 'bob', 'carol']);
    expect(targetsOf(after)).toEqual(['alice', 'carol']);
  });

  it('includes a member added after the view was cached', async () => {
    const group = await groups.create('alice', { name: 'Team', kind: 'group', members: ['bob'] });
    await send('alice', group.conv);

    await groups.addMembers('alice', group.conv, ['carol']);
    const after = await send('bob', group.conv);

    expect(targetsOf(after)).toEqual(['alice', 'bob', 'carol']);
  });

  it('writes no stream targets once the group grows past the threshold', async () => {
    const group = await groups.create('alice', { name: 'Team', kind: 'group', members: ['bob', 'carol'] });
    const small = await messenger.send('alice', { type: 'send', id: 'small', conv: group.conv, body: 'hi' });

    await groups.addMembers('alice', group.conv, ['dave']);
    const large = await messenger.send('alice', { type: 'send', id: 'large', conv: group.conv, body: 'hi' });

    expect(small.fanout).toBe('push');
    expect(large.fanout).toBe('notice');
    expect(large.record?.targets).toEqual([]);
  });

  it('lets only admins post in a channel', async () => {
    const channel = await groups.create('alice', { name: 'News', kind: 'channel', members: ['bob'] });

    await expect(send('bob', channel.conv)).rejects.toBeInstanceOf(ForbiddenError);
    expect(targetsOf(await send('alice', channel.conv))).toEqual(['alice', 'bob']);
  });

  it('sends typing indicators to the other members only', async () => {
    const group = await groups.create('alice', { name: 'Team', kind: 'group', members: ['bob', 'carol'] });

    expect((await messenger.typingRecipients('bob', group.conv)).sort()).toEqual(['alice', 'carol']);
    await expect(messenger.typingRecipients('erin', group.conv)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lets only admins send typing in a channel', async () => {
    const channel = await groups.create('alice', { name: 'News', kind: 'channel', members: ['bob'] });

    await expect(messenger.typingRecipients('bob', channel.conv)).rejects.toBeInstanceOf(ForbiddenError);
    expect(await messenger.typingRecipients('alice', channel.conv)).toEqual(['bob']);
  });

  it('keeps a message to a blocker for the sender alone', async () => {
    await sqlite.store.blockUser('alice', 'bob', 1);

    const accepted = await messenger.send('bob', {
      type: 'send',
      id: 'blocked',
      to: 'alice',
      body: 'hello?',
    });

    expect(accepted.record?.hiddenFrom).toBe('alice');
    expect(accepted.record?.targets.map((target) => target.user)).toEqual(['bob']);
    expect(await messenger.typingRecipients('bob', accepted.ack.conv)).toEqual([]);
  });
});
