/**
 * Tracks the position in the user's sync stream up to which the device has seen every
 * entry without a hole.
 *
 * Live frames carry their stream position. A frame one past the cursor moves it on. A
 * frame further ahead is remembered, and the positions between are a gap that a `sync`
 * request fills unless the missing frames arrive first.
 */
export class StreamCursor {
  #position: number | null;
  /** Positions seen beyond a hole, waiting for the hole to close. */
  readonly #ahead = new Set<number>();

  /** `position` is null for a device that has never connected. */
  constructor(position: number | null = null) {
    this.#position = position;
  }

  /** Highest position seen without a hole, or null before the first welcome. */
  get position(): number | null {
    return this.#position;
  }

  /** True when positions beyond a hole were seen. */
  get hasGap(): boolean {
    return this.#ahead.size > 0;
  }

  /** Records the position of a live frame. */
  observe(pos: number): void {
    if (this.#position === null || pos <= this.#position) return;
    if (pos > this.#position + 1) {
      this.#ahead.add(pos);
      return;
    }
    this.#position = pos;
    this.#drain();
  }

  /**
   * Moves the cursor to `head` if that is further on: after a `sync` page, or to the
   * welcome head of a device without a saved position.
   */
  advanceTo(head: number): void {
    if (this.#position !== null && head <= this.#position) return;
    this.#position = head;
    for (const pos of this.#ahead) if (pos <= head) this.#ahead.delete(pos);
    this.#drain();
  }

  #drain(): void {
    while (this.#position !== null && this.#ahead.delete(this.#position + 1)) this.#position += 1;
  }
}
