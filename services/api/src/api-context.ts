import type { Store, TokenIssuer } from '@switchboard/core';

/** Dependencies and limits that the route modules share. */
export interface ApiContext {
  store: Store;
  tokens: TokenIssuer;
  /** Clock in milliseconds since the epoch, for token lifetimes and creation times. */
  now: () => number;
  /** Largest history page a client may request. */
  historyPageMax: number;
  /** Waits until the store holds everything already in the durable log. */
  awaitPersisted: () => Promise<unknown>;
}
