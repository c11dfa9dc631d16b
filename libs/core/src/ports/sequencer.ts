/** Request to take a sequence number for a new message. */
export interface ReserveRequest {
  sender: string;
  /** Client message id; (sender, clientId) identifies the message across retries. */
  clientId: string;
  conv: string;
  /** Users whose sync streams get an entry for this message, each at a new position. */
  targets: string[];
  /** Accept time to record; a retry gets the first attempt's time back. */
  now: number;
}

export interface Reservation {
  conv: string;
  seq: number;
  ts: number;
  positions: Array<{ user: string; pos: number }>;
  /** True when (sender, clientId) was reserved before and this is the earlier reservation. */
  existing: boolean;
}

/**
 * Per-conversation sequence numbers, per-user stream positions and send idempotency.
 *
 * A number handed out is never handed out again, even after a restart of the backing
 * engine: a lost counter is re-seeded from the store before use. Numbers may be skipped.
 */
export interface Sequencer {
  /**
   * Reserves the next sequence number of `conv` and a stream position for each target,
   * or returns the reservation already made for (sender, clientId). Throws a ConflictError
   * with SWB_ERR_ID_CONFLICT when that reservation was for another conversation.
   */
  reserve(request: ReserveRequest): Promise<Reservation>;
  /** Takes one new stream position for each user (receipts and other stream entries). */
  nextPositions(users: string[]): Promise<Array<{ user: string; pos: number }>>;
  /** Highest position handed out for `user`, 0 when none. */
  streamHead(user: string): Promise<number>;
  close(): Promise<void>;
}
