import type { Database } from 'better-sqlite3';
import {
  ConflictError,
  NotFoundError,
  type Reservation,
  type ReserveRequest,
  type Sequencer,
} from '@switchboard/core';
import { ErrorCode } from '@switchboard/protocol';

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

/**
 * The Sequencer of the embedded profile, over the database of SqliteStore.
 *
 * Each new value is the larger of the stored counter and the highest stored row, plus one,
 * so a counter that was lost or rolled back still never hands out a number again.
 */
export class SqliteSequencer implements Sequencer {
  readonly #release: () => void;
  readonly #reservationTtlMs: number;
  readonly #statements;
  readonly #reserve: (request: ReserveRequest) => Reservation;
  readonly #nextPositions: (users: string[]) => Positions;
  /** Time, in the callers' clock, of the last pruning of old reservations. */
  #prunedAt = -Infinity;

  constructor(db: Database, release: () => void, options: SqliteSequencerOptions = {}) {
    this.#release = release;
    this.#reservationTtlMs = options.reservationTtlMs ?? 24 * 60 * 60 * 1000;
    this.#statements = prepareStatements(db);
    this.#reserve = db.transaction((request: ReserveRequest) =>
      this.#reserveInTransaction(request),
    ).immediate;
    this.#nextPositions = db.transaction((users: string[]) => this.#takePositions(users)).immediate;
  }

  async reserve(request: ReserveRequest): Promise<Reservation> {
    return this.#reserve(request);
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
    this.#release();
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
    const seq = Math.max(conversation.last_seq, statements.maxSeq.get(request.conv)!.value) + 1;
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
      const counter = statements.streamHead.get(user)?.head ?? 0;
      const pos = Math.max(counter, statements.maxStreamPos.get(user)!.value) + 1;
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
