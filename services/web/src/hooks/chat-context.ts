import { createContext, useContext, useSyncExternalStore } from 'react';
import type { ChatModel, ChatSnapshot } from '../model/chat-model.ts';

/** The app's ChatModel, provided once at the root. */
export const ChatModelContext = createContext<ChatModel | null>(null);

/** Returns the ChatModel of the app; throws outside the provider, which is a programming error. */
export function useChatModel(): ChatModel {
  const model = useContext(ChatModelContext);
  if (model === null) throw new Error('useChatModel must be called inside ChatModelContext.Provider');
  return model;
}

/** Returns the current snapshot and re-renders the caller on every change. */
export function useChatSnapshot(): ChatSnapshot {
  const model = useChatModel();
  return useSyncExternalStore(model.subscribe, model.getSnapshot);
}
