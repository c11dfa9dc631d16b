const SHARD_COUNT = 64;

/** FNV-1a over the UTF-16 code units; cheap, stable and well spread for short ids. */
function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Open connections by user id, split into shards keyed by a hash of the user id.
 *
 * A user may hold several connections (devices). Each shard owns its own map, so a scan
 * for a ring change or a drain walks one shard at a time.
 */
export class ConnectionTable<C> {
  readonly #shards: Array<Map<string, Set<C>>>;
  #size = 0;

  constructor() {
    this.#shards = Array.from({ length: SHARD_COUNT }, () => new Map<string, Set<C>>());
  }

  /** Number of open connections. */
  get size(): number {
    return this.#size;
  }

  add(user: string, connection: C): void {
    const shard = this.#shard(user);
    let set = shard.get(user);
    if (set === undefined) {
      set = new Set();
      shard.set(user, set);
    }
    if (!set.has(connection)) {
      set.add(connection);
      this.#size++;
    }
  }

  delete(user: string, connection: C): void {
    const shard = this.#shard(user);
    const set = shard.get(user);
    if (set === undefined || !set.delete(connection)) return;
    this.#size--;
    if (set.size === 0) shard.delete(user);
  }

  /** Returns the open connections of `user`, or undefined when there are none. */
  get(user: string): ReadonlySet<C> | undefined {
    return this.#shard(user).get(user);
  }

  /** Number of users with at least one connection. */
  userCount(): number {
    let count = 0;
    for (const shard of this.#shards) count += shard.size;
    return count;
  }

  /** Visits every user with at least one connection, one shard after another. */
  *users(): Generator<string> {
    for (const shard of this.#shards) yield* shard.keys();
  }

  /** Visits every user and connection, one shard after another. */
  *entries(): Generator<[string, C]> {
    for (const shard of this.#shards) {
      for (const [user, set] of shard) {
        for (const connection of set) yield [user, connection];
      }
    }
  }

  #shard(user: string): Map<string, Set<C>> {
    return this.#shards[hashKey(user) % SHARD_COUNT]!;
  }
}
