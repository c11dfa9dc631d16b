// Types for the parts of hashring 3.2.0 that this package uses. The package ships no types of
// its own, and these few lines avoid a dependency on @types/hashring.
declare module 'hashring' {
  interface HashRingOptions {
    /** Points per server when the server sets no `vnodes` of its own. */
    'vnode count'?: number;
    /** `ketama` places 4 points per virtual node, `hash_ring` places 3. */
    compatibility?: 'ketama' | 'hash_ring';
    /** Maximum entries of the LRU lookup cache, 5000 by default. */
    'max cache size'?: number;
  }

  interface ServerSettings {
    weight?: number;
    vnodes?: number;
  }

  class HashRing {
    constructor(
      servers: Record<string, ServerSettings> | string[],
      algorithm?: string,
      options?: HashRingOptions,
    );
    /** Returns up to `size` distinct servers, starting with the one that owns `key`. */
    range(key: string, size?: number, unique?: boolean): string[];
  }

  export default HashRing;
}
