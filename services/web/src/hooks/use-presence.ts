import { useCallback, useSyncExternalStore } from 'react';
import type { PresenceEntry } from '@switchboard/protocol';
import { CAPABILITIES } from '../capabilities.ts';
import { useChatModel } from './chat-context.ts';

/** Presence of a user as the presence dot shows it. */
export type PresenceStatus = 'online' | 'offline' | 'unknown';

/**
 * Returns the last presence entry of a user, or undefined while it is unknown: the user is not
 * followed (only the peers of the latest one-to-one conversations are), or no entry arrived yet.
 * The caller re-renders only when this user's entry changes.
 */
export function usePresenceEntry(userId: string | null): PresenceEntry | undefined {
  const model = useChatModel();
  const read = useCallback(
    () => (userId === null || !CAPABILITIES.presence ? undefined : model.getSnapshot().presence.get(userId)),
    [model, userId],
  );
  return useSyncExternalStore(model.subscribe, read);
}

/** Returns the presence of a user: online, offline, or unknown while no entry arrived. */
export function usePresence(userId: string | null): PresenceStatus {
  const entry = usePresenceEntry(userId);
  if (entry === undefined) return 'unknown';
  return entry.online ? 'online' : 'offline';
}
