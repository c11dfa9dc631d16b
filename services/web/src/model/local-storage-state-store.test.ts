import { describe, expect, it } from 'vitest';
import type { ClientState } from '@switchboard/client';
import { LocalStorageStateStore, stateKeyOf } from './local-storage-state-store.ts';
import { MemoryStorage } from './memory-storage.ts';

function stateOf(user: string): ClientState {
  return {
    user,
    streamPos: 17,
    lastSeq: { 'd.u_a.u_b': 4 },
    outbox: [{ id: 'm1', target: { conv: 'd.u_a.u_b' }, body: 'queued', createdAt: 1_700_000_000_000 }],
    heldBack: [],
  };
}

describe('LocalStorageStateStore', () => {
  it('loads what it saved for the current user', () => {
    const storage = new MemoryStorage();
    const store = new LocalStorageStateStore(storage, () => 'u_a');
    store.save(stateOf('u_a'));
    expect(store.load()).toEqual(stateOf('u_a'));
  });

  it('keeps one entry per user', () => {
    const storage = new MemoryStorage();
    let current = 'u_a';
    const store = new LocalStorageStateStore(storage, () => current);
    store.save(stateOf('u_a'));
    current = 'u_b';
    expect(store.load()).toBeNull();
    store.save(stateOf('u_b'));
    expect(store.peek('u_a')?.user).toBe('u_a');
    expect(store.load()?.user).toBe('u_b');
  });

  it('loads nothing before the user is known', () => {
    const storage = new MemoryStorage();
    new LocalStorageStateStore(storage, () => 'u_a').save(stateOf('u_a'));
    expect(new LocalStorageStateStore(storage, () => null).load()).toBeNull();
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '42'],
    ['missing outbox', JSON.stringify({ user: 'u_a', streamPos: 1, lastSeq: {} })],
    ['another user', JSON.stringify(stateOf('u_other'))],
  ])('drops a saved state that is %s', (_case, text) => {
    const storage = new MemoryStorage();
    storage.setItem(stateKeyOf('u_a'), text);
    const store = new LocalStorageStateStore(storage, () => 'u_a');
    expect(store.load()).toBeNull();
    expect(storage.getItem(stateKeyOf('u_a'))).toBeNull();
  });

  it('fills in heldBack missing from an older save', () => {
    const storage = new MemoryStorage();
    const { heldBack: _heldBack, ...older } = stateOf('u_a');
    storage.setItem(stateKeyOf('u_a'), JSON.stringify(older));
    expect(new LocalStorageStateStore(storage, () => 'u_a').load()?.heldBack).toEqual([]);
  });

  it('clears a user state', () => {
    const storage = new MemoryStorage();
    const store = new LocalStorageStateStore(storage, () => 'u_a');
    store.save(stateOf('u_a'));
    store.clear('u_a');
    expect(store.load()).toBeNull();
  });
});
