import type { Database } from 'better-sqlite3';
import {
  ConflictError,
  NotFoundError,
  type Reservation,
  type ReserveRequest,
  type Sequencer,
} from '@switchboard/core';
import { ErrorCode } from '@switchboard/protocol';
import { BoundedSet } from './bounded-set.ts';

export interface SqliteSequencerOptions {
  /** How long a (sender, client id) reservation is returned to retries, in milliseconds; default 24 h. */
  reservationTtlMs?: number;
}

interface ReservationRow {
  conv: string;
  seq: number;
  ts: number;
  positions: string;
}

type Positions = Array<{ user: string; pos: number }>;

interface PendingReserve {
  request: ReserveRequest;
  resolve(reservation: Reservation): void;
  reject(err: unknown): void;
}

type ReserveOutcome = { ok: true; reservation: Reservation } | { ok: false; error: unknown };

/**
 * The Sequencer of the embedded profile, over the database of SqliteStore.
 *
 * Each new value is the larger of the stored counter and the highest stored row, plus one,
 * so a counter that was lost or rolled back still never hands out a number again.
 *
 * Reserves that arrive in one event-loop turn share one transaction, so a burst of sends pays
 * for one commit instead of one per message.
 */
export class SqliteSequencer implements Sequencer {
  readonly #release: () => void;
  readonly #reservationTtlMs: number;
  readonly #statements;
  readonly #reserveBatch: (batch: PendingReserve[]) => ReserveOutcome[];
  #pending: PendingReserve[] = [];
  readonly #nextPositions: (users: string[]) => Positions;
  /**
   * Conversations and users whose stored counter was already checked against their highest stored
   * row in this process. From then on every row comes from this counter, so the check is skipped.
   */
  readonly #checkedConversations = new BoundedSet(CHECKED_LIMIT);
  readonly #checkedUsers = new BoundedSet(CHECKED_LIMIT);
  /** Time, in the callers' clock, of the last pruning of old reservations. */
  #prunedAt = -Infinity;

  constructor(db: Database, release: () => void, options: SqliteSequencerOptions = {}) {
    this.#release = release;
    this.#reservationTtlMs = options.reservationTtlMs ?? 24 * 60 * 60 * 1000;
    this.#statements = prepareStatements(db);
    this.#reserveBatch = db.transaction((batch: PendingReserve[]) =>
      batch.map((pending): ReserveOutcome => {
        try {
          return { ok: true, reservation: this.#reserveInTransaction(pending.request) };
        } catch (error) {
          // Both are thrown before the reserve writes anything, so the batch can go on. Any other
          // error rolls back the whole batch and rejects every reserve in it.
          if (error instanceof ConflictError || error instanceof NotFoundError) return { ok: false, error };
          throw error;
        }
      }),
    ).immediate;
    this.#nextPositions = db.transaction((users: string[]) => this.#takePositions(users)).immediate;
  }

  reserve(request: ReserveRequest): Promise<Reservation> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ request, resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => this.#flushReserves());
    });
  }

  async nextPositions(users: string[]): Promise<Positions> {
    if (users.length === 0) return [];
    return this.#nextPositions(users);
  }

  async streamHead(user: string): Promise<number> {
    const counter = this.#statements.streamHead.get(user)?.head ?? 0;
    return Math.max(counter, this.#statements.maxStreamPos.get(user)!.value);
  }

  async close(): Promise<void> {
    this.#flushReserves();
    this.#release();
  }

  /** Commits the waiting reserves in one transaction, then settles each one. */
  #flushReserves(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let outcomes: ReserveOutcome[];
    try {
      outcomes = this.#reserveBatch(batch);
    } catch (err) {
      // The commit failed (a full disk, a closed database), so no reservation of the batch exists.
      for (const pending of batch) pending.reject(err);
      return;
    }
    outcomes.forEach((outcome, index) => {
      const pending = batch[index]!;
      if (outcome.ok) pending.resolve(outcome.reservation);
      else pending.reject(outcome.error);
    });
  }

  #reserveInTransaction(request: ReserveRequest): Reservation {
    const statements = this.#statements;
    this.#pruneReservations(request.now);

    const earlier = statements.reservation.get(request.sender, request.clientId);
    if (earlier !== undefined) {
      if (earlier.conv !== request.conv) {
        throw new ConflictError(
          ErrorCode.IdConflict,
          `client message id ${request.clientId} was already used in conversation ${earlier.conv}`,
        );
      }
      const positions = JSON.parse(earlier.positions) as Positions;
      return { conv: earlier.conv, seq: earlier.seq, ts: earlier.ts, positions, existing: true };
    }

    const conversation = statements.lastSeq.get(request.conv);
    if (conversation === undefined) {
      throw new NotFoundError(ErrorCode.ConversationNotFound, `conversation ${request.conv} does not exist`);
    }
    let last = conversation.last_seq;
    if (!this.#checkedConversations.has(request.conv)) {
      last = Math.max(last, statements.maxSeq.get(request.conv)!.value);
      this.#checkedConversations.add(request.conv);
    }
    const seq = last + 1;
    statements.setLastSeq.run(seq, request.conv);

    const positions = this.#takePositions(request.targets);
    statements.insertReservation.run(
      request.sender,
      request.clientId,
      request.conv,
      seq,
      request.now,
      JSON.stringify(positions),
      request.now,
    );
    return { conv: request.conv, seq, ts: request.now, positions, existing: false };
  }

  /** Takes one position per distinct user; runs inside the caller's transaction. */
  #takePositions(users: string[]): Positions {
    const statements = this.#statements;
    return [...new Set(users)].map((user) => {
      let head = statements.streamHead.get(user)?.head ?? 0;
      if (!this.#checkedUsers.has(user)) {
        head = Math.max(head, statements.maxStreamPos.get(user)!.value);
        this.#checkedUsers.add(user);
      }
      const pos = head + 1;
      statements.setStreamHead.run(user, pos);
      return { user, pos };
    });
  }

  /** Deletes reservations past their TTL, at most once per minute (or per TTL when shorter) of the callers' clock. */
  #pruneReservations(now: number): void {
    if (now - this.#prunedAt < Math.min(this.#reservationTtlMs, 60_000)) return;
    this.#prunedAt = now;
    this.#statements.pruneReservations.run(now - this.#reservationTtlMs);
  }
}

/** Entries each checked set keeps before it starts again empty (an estimated 100 bytes each). */
const CHECKED_LIMIT = 100_000;

function prepareStatements(db: Database) {
  return {
    reservation: db.prepare<[string, string], ReservationRow>(
      'SELECT conv, seq, ts, positions FROM reservations WHERE sender = ? AND client_id = ?',
    ),
    insertReservation: db.prepare<[string, string, string, number, number, string, number]>(
      `INSERT INTO reservations (sender, client_id, conv, seq, ts, positions, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    pruneReservations: db.prepare<[number]>('DELETE FROM reservations WHERE created_at < ?'),
    lastSeq: db.prepare<[string], { last_seq: number }>('SELECT last_seq FROM conversations WHERE id = ?'),
    setLastSeq: db.prepare<[number, string]>('UPDATE conversations SET last_seq = ? WHERE id = ?'),
    maxSeq: db.prepare<[string], { value: number }>(
      'SELECT COALESCE(MAX(seq), 0) AS value FROM messages WHERE conv = ?',
    ),
    streamHead: db.prepare<[string], { head: number }>('SELECT head FROM stream_heads WHERE user = ?'),
    setStreamHead: db.prepare<[string, number]>(
      `INSERT INTO stream_heads (user, head) VALUES (?, ?)
       ON CONFLICT (user) DO UPDATE SET head = excluded.head`,
    ),
    maxStreamPos: db.prepare<[string], { value: number }>(
      'SELECT COALESCE(MAX(pos), 0) AS value FROM stream WHERE user = ?',
    ),
  };
}
