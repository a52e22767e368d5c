// The simulated GPU KV cache: a fixed number of blocks, reference-counted, with an automatic
// prefix cache. A block that holds a full, hashed prefix stays findable after its last user
// releases it, until the pool needs it again (least recently released first), as in vLLM's
// V1 KV-cache manager. Pure state, no timers.

export class BlockPool {
  readonly numBlocks: number;
  /** Blocks that hold nothing reusable. */
  #free: number[] = [];
  /** Unreferenced blocks that still hold a cached prefix, oldest release first (Map keeps insertion order). */
  #evictable = new Map<number, true>();
  #refs: Int32Array;
  #hashOf: (bigint | undefined)[];
  #byHash = new Map<bigint, number>();

  constructor(numBlocks: number) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new RangeError(`numBlocks must be a positive integer, got ${numBlocks}`);
    this.numBlocks = numBlocks;
    this.#refs = new Int32Array(numBlocks);
    this.#hashOf = new Array<bigint | undefined>(numBlocks).fill(undefined);
    // Low ids first, so block ids read naturally in tests and traces.
    for (let i = numBlocks - 1; i >= 0; i--) this.#free.push(i);
  }

  /** Blocks that can be handed out now (free plus evictable cached ones). */
  get numFree(): number {
    return this.#free.length + this.#evictable.size;
  }

  /** vLLM's `kv_cache_usage_perc`: the fraction of blocks in use by requests (0–1). */
  get usage(): number {
    return 1 - this.numFree / this.numBlocks;
  }

  get numCached(): number {
    return this.#byHash.size;
  }

  /** Longest run of leading hashes whose blocks are cached; does not take references. */
  longestCachedPrefix(hashes: readonly bigint[]): number[] {
    const hit: number[] = [];
    for (const h of hashes) {
      const id = this.#byHash.get(h);
      if (id === undefined) break;
      hit.push(id);
    }
    return hit;
  }

  /** Takes a reference on blocks found by {@link longestCachedPrefix}. */
  acquire(ids: readonly number[]): void {
    for (const id of ids) {
      if (this.#refs[id] === 0) this.#evictable.delete(id);
      this.#refs[id] = (this.#refs[id] ?? 0) + 1;
    }
  }

  /** Hands out `n` fresh blocks with one reference each, or null (and nothing) when not enough are free. */
  allocate(n: number): number[] | null {
    if (n > this.numFree) return null;
    const out: number[] = [];
    while (out.length < n) {
      let id = this.#free.pop();
      if (id === undefined) {
        const oldest = this.#evictable.keys().next();
        if (oldest.done) return null; // unreachable: numFree was checked
        id = oldest.value;
        this.#evictable.delete(id);
        this.#forget(id);
      }
      this.#refs[id] = 1;
      out.push(id);
    }
    return out;
  }

  /** Drops one reference per block; the last one makes a cached block evictable, an uncached one free. */
  release(ids: readonly number[]): void {
    // Tail blocks first, so that a request's last blocks are evicted before its shared prefix.
    for (let i = ids.length - 1; i >= 0; i--) {
      const id = ids[i] as number;
      const r = (this.#refs[id] ?? 0) - 1;
      if (r < 0) throw new Error(`block ${id} released more often than acquired`);
      this.#refs[id] = r;
      if (r > 0) continue;
      if (this.#hashOf[id] !== undefined) this.#evictable.set(id, true);
      else this.#free.push(id);
    }
  }

  /** Records that a block now holds the full block with this prefix hash. First writer wins. */
  register(id: number, hash: bigint): void {
    if (this.#hashOf[id] !== undefined || this.#byHash.has(hash)) return;
    this.#hashOf[id] = hash;
    this.#byHash.set(hash, id);
  }

  refCount(id: number): number {
    return this.#refs[id] ?? 0;
  }

  /** Empties the prefix cache (vLLM's /reset_prefix_cache); blocks in use keep their contents. */
  resetPrefixCache(): void {
    for (const id of this.#evictable.keys()) {
      this.#forget(id);
      this.#free.push(id);
    }
    this.#evictable.clear();
    for (let id = 0; id < this.numBlocks; id++) if (this.#hashOf[id] !== undefined) this.#forget(id);
  }

  #forget(id: number): void {
    const h = this.#hashOf[id];
    if (h === undefined) return;
    this.#hashOf[id] = undefined;
    if (this.#byHash.get(h) === id) this.#byHash.delete(h);
  }
}
