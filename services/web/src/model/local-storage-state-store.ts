import type { ClientState, ClientStateStore } from '@switchboard/client';

/** The part of the Web Storage API that the stores use, so tests can pass an in-memory one. */
export type KeyValueStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

const STATE_KEY_PREFIX = 'switchboard.state.';

/** Returns the storage key of one user's client state. */
export function stateKeyOf(userId: string): string {
  return `${STATE_KEY_PREFIX}${userId}`;
}

/**
 * Keeps the SDK's client state (stream position, last sequence numbers, outbox) in
 * localStorage, one entry per user, so a reload resumes the sync stream and resends the
 * messages that were not acknowledged.
 *
 * The key is read from `currentUser` at each call, because the client learns its user only
 * after login. A state that cannot be parsed is dropped: it costs a catch-up from the
 * welcome head, which is better than a client that cannot start.
 *
 * NOTE: two tabs of the same user share the entry and each saves its own snapshot over the
 * other's, so a reload may lose the unsent messages of the tab that saved first.
 */
export class LocalStorageStateStore implements ClientStateStore {
  readonly #storage: KeyValueStorage;
  readonly #currentUser: () => string | null;

  constructor(storage: KeyValueStorage, currentUser: () => string | null) {
    this.#storage = storage;
    this.#currentUser = currentUser;
  }

  load(): ClientState | null {
    const user = this.#currentUser();
    return user === null ? null : this.peek(user);
  }

  save(state: ClientState): void {
    this.#storage.setItem(stateKeyOf(state.user), JSON.stringify(state));
  }

  /** Reads a user's saved state without going through the client, for example to show its outbox. */
  peek(userId: string): ClientState | null {
    const text = this.#storage.getItem(stateKeyOf(userId));
    if (text === null) return null;
    const state = parseState(text);
    if (state === null || state.user !== userId) {
      this.#storage.removeItem(stateKeyOf(userId));
      return null;
    }
    return state;
  }

  /** Deletes a user's saved state, on logout. */
  clear(userId: string): void {
    this.#storage.removeItem(stateKeyOf(userId));
  }
}

function parseState(text: string): ClientState | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const state = value as Partial<ClientState>;
  const valid =
    typeof state.user === 'string' &&
    (state.streamPos === null || typeof state.streamPos === 'number') &&
    typeof state.lastSeq === 'object' &&
    state.lastSeq !== null &&
    Array.isArray(state.outbox);
  if (!valid) return null;
  return { ...(state as ClientState), heldBack: Array.isArray(state.heldBack) ? state.heldBack : [] };
}
