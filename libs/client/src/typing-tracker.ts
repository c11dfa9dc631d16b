import type { TypingFrame, TypingState } from '@switchboard/protocol';

/** Payload of the `typing` event: a member started or stopped typing in a conversation. */
export interface TypingEvent {
  conv: string;
  user: string;
  typing: boolean;
}

/** Expiry used when a `start` frame carries none, in milliseconds. */
const DEFAULT_EXPIRY_MS = 6000;

/**
 * Typing indicators of other members, on the receiving side.
 *
 * A `start` holds until a `stop` arrives or its expiry passes without another `start`; the
 * tracker then reports the user as stopped, so a lost `stop` never leaves an indicator on.
 * Only transitions are reported.
 */
export class TypingTracker {
  readonly #onChange: (event: TypingEvent) => void;
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(onChange: (event: TypingEvent) => void) {
    this.#onChange = onChange;
  }

  receive(frame: TypingFrame): void {
    const key = `${frame.conv}\n${frame.user}`;
    const timer = this.#timers.get(key);
    if (timer !== undefined) clearTimeout(timer);

    if (frame.state === 'stop') {
      if (timer === undefined) return;
      this.#timers.delete(key);
      this.#onChange({ conv: frame.conv, user: frame.user, typing: false });
      return;
    }
    this.#timers.set(
      key,
      setTimeout(() => {
        this.#timers.delete(key);
        this.#onChange({ conv: frame.conv, user: frame.user, typing: false });
      }, frame.expiresIn ?? DEFAULT_EXPIRY_MS),
    );
    if (timer === undefined) this.#onChange({ conv: frame.conv, user: frame.user, typing: true });
  }

  /** Drops every indicator without reporting it, as close() does. */
  clear(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}

/**
 * The sending side: turns calls of `setTyping` into frames, sending a `start` at most once per
 * `renewMs` while the user keeps typing, and a `stop` only after a `start`.
 */
export class TypingSender {
  readonly #renewMs: number;
  readonly #startedAt = new Map<string, number>();

  constructor(renewMs: number) {
    this.#renewMs = renewMs;
  }

  /** Returns the state to send for this call, or null when nothing needs to go out. */
  next(conv: string, typing: boolean, now = Date.now()): TypingState | null {
    const startedAt = this.#startedAt.get(conv);
    if (!typing) {
      if (startedAt === undefined) return null;
      this.#startedAt.delete(conv);
      return 'stop';
    }
    if (startedAt !== undefined && now - startedAt < this.#renewMs) return null;
    this.#startedAt.set(conv, now);
    return 'start';
  }

  /** Forgets what was sent, after a reconnect, so the next call sends again. */
  reset(): void {
    this.#startedAt.clear();
  }
}
