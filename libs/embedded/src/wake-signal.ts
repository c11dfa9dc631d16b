/**
 * A one-shot wake-up shared by any number of waiters.
 *
 * `wait()` returns a promise that the next `notify()` resolves; each `notify()` starts a new
 * round. A waiter that checks its condition and calls `wait()` in the same turn of the
 * event loop cannot miss a notification.
 */
export class WakeSignal {
  #promise!: Promise<void>;
  #resolve!: () => void;

  constructor() {
    this.#reset();
  }

  wait(): Promise<void> {
    return this.#promise;
  }

  notify(): void {
    const resolve = this.#resolve;
    this.#reset();
    resolve();
  }

  #reset(): void {
    this.#promise = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }
}
