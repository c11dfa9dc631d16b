import type { KeyValueStorage } from './local-storage-state-store.ts';

/** An in-memory stand-in for localStorage, for tests that run in Node. */
export class MemoryStorage implements KeyValueStorage {
  readonly items = new Map<string, string>();

  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }

  removeItem(key: string): void {
    this.items.delete(key);
  }
}
