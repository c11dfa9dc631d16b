import type { MessageFrame } from '@switchboard/protocol';
import type { OutboxEntry } from './outbox.ts';

/** State that a client keeps across restarts so that it resumes where it stopped. */
export interface ClientState {
  /** User id the state belongs to; the client ignores a state of another user. */
  user: string;
  /** Sync stream position seen without a hole, or null before the first welcome. */
  streamPos: number | null;
  /** Highest released sequence number per conversation id. */
  lastSeq: Record<string, number>;
  /** Messages sent but not yet acknowledged, resent with the same id. */
  outbox: OutboxEntry[];
  /** Messages held back behind a sequence gap, so a restart fetches the gap again. */
  heldBack: MessageFrame[];
}

/**
 * Storage of the client state. `save` receives the whole state and replaces the stored one.
 *
 * Either method may be synchronous or return a promise.
 */
export interface ClientStateStore {
  load(): ClientState | null | Promise<ClientState | null>;
  save(state: ClientState): void | Promise<void>;
}

/** Keeps the client state in memory: the default, and handy in tests. */
export class MemoryStateStore implements ClientStateStore {
  #state: ClientState | null;

  constructor(initial: ClientState | null = null) {
    this.#state = initial === null ? null : structuredClone(initial);
  }

  load(): ClientState | null {
    return this.#state === null ? null : structuredClone(this.#state);
  }

  save(state: ClientState): void {
    this.#state = structuredClone(state);
  }
}
