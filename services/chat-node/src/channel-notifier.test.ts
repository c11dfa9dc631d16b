import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  buildGroupView,
  createLogger,
  type GroupMember,
  type GroupView,
  type NodeInfo,
} from '@switchboard/core';
import { waitFor } from '@switchboard/core/testing';
import { ChannelNotifier, type OfflineRecipients } from './channel-notifier.ts';

const INTERVAL_MS = 100;

function buildNode(id: string): NodeInfo {
  return { id, url: `ws://127.0.0.1:9000/ws?node=${id}`, weight: 1, startedAt: 1 };
}

function buildChannel(conv: string, users: string[]): GroupView {
  const members: GroupMember[] = users.map((user) => ({ user, role: 'member', joinedSeq: 0, leftSeq: null }));
  return buildGroupView({ conv, kind: 'channel', name: 'News', version: 'v1' }, members, 2);
}

/** Starts a notifier on a fake node that owns the users named `here-*` and connects those with `-a-`. */
function startNotifier(group: GroupView) {
  const connected = new Set(['here-a-1', 'here-a-2', 'elsewhere-a-3']);
  const sent: Array<{ user: string; frame: string }> = [];
  const offline: OfflineRecipients[] = [];
  const notifier = new ChannelNotifier({
    intervalMs: INTERVAL_MS,
    logger: createLogger('test', { level: 'silent' }),
    nodeId: 'node-1',
    placement: {
      ringVersion: 'r1',
      ownerOf: (user) => buildNode(user.startsWith('here') ? 'node-1' : 'node-2'),
    },
    loadGroup: async (conv) => (conv === group.conv ? group : null),
    connectedUsers: () => connected,
    connectedUserCount: () => connected.size,
    isConnected: (user) => connected.has(user),
    sendToUser: (user, frame) => sent.push({ user, frame }),
    onOfflineRecipients: (batch) => offline.push(batch),
  });
  return { notifier, sent, offline };
}

const notifiers: ChannelNotifier[] = [];

afterEach(() => {
  for (const notifier of notifiers.splice(0)) notifier.stop();
});

describe('ChannelNotifier', () => {
  it('notifies connected members with the latest number, once per interval', async () => {
    const group = buildChannel('g.news', [
      'here-a-1',
      'here-a-2',
      'here-b-1',
      'elsewhere-a-3',
      'elsewhere-b-2',
    ]);
    const { notifier, sent } = startNotifier(group);
    notifiers.push(notifier);

    notifier.advance('g.news', 1);
    await waitFor(() => sent.length >= 3, 'the first notices');
    for (let seq = 2; seq <= 20; seq++) notifier.advance('g.news', seq);
    await sleep(INTERVAL_MS * 3);

    const frames = sent.map((entry) => JSON.parse(entry.frame) as { seq: number });
    expect(new Set(sent.map((entry) => entry.user))).toEqual(
      new Set(['here-a-1', 'here-a-2', 'elsewhere-a-3']),
    );
    expect(frames.map((frame) => frame.seq)).toEqual([1, 1, 1, 20, 20, 20]);
  });

  it('reports the owned offline members at most once per interval', async () => {
    const group = buildChannel('g.news', ['here-a-1', 'here-b-1', 'here-b-2', 'elsewhere-b-3']);
    const { notifier, offline } = startNotifier(group);
    notifiers.push(notifier);

    for (let seq = 1; seq <= 10; seq++) notifier.advance('g.news', seq);
    await sleep(INTERVAL_MS * 3);

    expect(offline).toEqual([{ conv: 'g.news', seq: 10, users: ['here-b-1', 'here-b-2'] }]);
  });

  it('sends nothing for a group that does not exist', async () => {
    const { notifier, sent, offline } = startNotifier(buildChannel('g.news', ['here-a-1']));
    notifiers.push(notifier);

    notifier.advance('g.other', 3);
    await sleep(INTERVAL_MS * 2);

    expect(sent).toEqual([]);
    expect(offline).toEqual([]);
  });
});
