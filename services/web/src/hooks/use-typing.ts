import { useCallback, useSyncExternalStore } from 'react';
import { CAPABILITIES } from '../capabilities.ts';
import { useChatModel } from './chat-context.ts';

const NOBODY: readonly string[] = Object.freeze([]);

/**
 * Returns the ids of the other members typing in a conversation. The SDK ends a `start` that
 * no `stop` or renewal follows within its expiry, so a lost `stop` never leaves a name behind.
 */
export function useTypingUsers(conv: string): readonly string[] {
  const model = useChatModel();
  const read = useCallback(
    () => (CAPABILITIES.typing ? (model.getSnapshot().typing.get(conv) ?? NOBODY) : NOBODY),
    [model, conv],
  );
  return useSyncExternalStore(model.subscribe, read);
}
