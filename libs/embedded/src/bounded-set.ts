/** A set of strings that is cleared once it reaches `limit` entries, so it never grows past it. */
export class BoundedSet {
  readonly #limit: number;
  #entries = new Set<string>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  has(value: string): boolean {
    return this.#entries.has(value);
  }

  add(value: string): void {
    if (this.#entries.size >= this.#limit) this.#entries = new Set();
    this.#entries.add(value);
  }
}
