import { createContext, useContext, useSyncExternalStore } from 'react';
import type { PushModel, PushState } from '../model/push-model.ts';

/** The app's PushModel, provided once at the root. */
export const PushModelContext = createContext<PushModel | null>(null);

/** Returns the PushModel of the app; throws outside the provider, which is a programming error. */
export function usePushModel(): PushModel {
  const model = useContext(PushModelContext);
  if (model === null) throw new Error('usePushModel must be called inside PushModelContext.Provider');
  return model;
}

/** Returns the push settings and re-renders the caller when they change. */
export function usePushState(): PushState {
  const model = usePushModel();
  return useSyncExternalStore(model.subscribe, model.getSnapshot);
}
