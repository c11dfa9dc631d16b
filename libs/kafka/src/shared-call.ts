/**
 * Shares the calls of an async function among concurrent callers.
 *
 * `run` returns the result of a call that started no earlier than `run` itself. A caller that
 * arrives while a call is in flight cannot use it, because it may have started too early, so it
 * waits and shares the next call with every caller that arrived in the meantime. A burst of N
 * callers therefore costs at most two calls.
 */
export class SharedCall<T> {
  readonly #fn: () => Promise<T>;
  #inFlight: Promise<void> | null = null;
  #next: Promise<T> | null = null;
  #calls = 0;

  constructor(fn: () => Promise<T>) {
    this.#fn = fn;
  }

  /** Number of times the function was called. */
  get calls(): number {
    return this.#calls;
  }

  run(): Promise<T> {
    if (this.#next !== null) return this.#next;
    if (this.#inFlight === null) return this.#start();

    const next = this.#inFlight.then(() => {
      this.#next = null;
      return this.#start();
    });
    this.#next = next;
    return next;
  }

  #start(): Promise<T> {
    this.#calls += 1;
    const call = (async () => this.#fn())();
    const settled = call.then(
      () => undefined,
      () => undefined,
    );
    this.#inFlight = settled;
    void settled.then(() => {
      if (this.#inFlight === settled) this.#inFlight = null;
    });
    return call;
  }
}
