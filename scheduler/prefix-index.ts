// An approximate view of each worker's prefix cache, kept by the router from what it sent where
// (no engine events needed): prompts are cut into fixed-size text blocks whose hashes chain, as
// vLLM chains KV-block hashes, and each worker remembers the chains it was sent, least recently
// used first out. A request's match on a worker is how many leading blocks that worker has seen.
// Pure, clock-free, bounded in memory.
import { hash64 } from '../proto/hash.ts';

export interface PrefixIndexOptions {
  /** Characters per block (about 32 tokens at the default). */
  readonly blockChars: number;
  /** Blocks remembered per worker; roughly its KV capacity in these blocks. */
  readonly maxBlocksPerWorker: number;
}

export const PREFIX_INDEX_DEFAULTS: PrefixIndexOptions = Object.freeze({ blockChars: 128, maxBlocksPerWorker: 100_000 });

export class PrefixIndex {
  readonly options: PrefixIndexOptions;
  /** worker → block hash → true, in least-recently-used order (Map keeps insertion order). */
  readonly #workers = new Map<string, Map<bigint, true>>();

  constructor(options: Partial<PrefixIndexOptions> = {}) {
    this.options = { ...PREFIX_INDEX_DEFAULTS, ...options };
    if (!(this.options.blockChars >= 1 && this.options.maxBlocksPerWorker >= 1)) throw new RangeError('prefix index sizes must be >= 1');
  }

  /** Hashes of the text's full blocks, each chained on the one before. */
  chain(text: string): bigint[] {
    const n = Math.floor(text.length / this.options.blockChars);
    const out = new Array<bigint>(n);
    let h = 0n;
    for (let i = 0; i < n; i++) {
      h = hash64(text.slice(i * this.options.blockChars, (i + 1) * this.options.blockChars), h);
      out[i] = h;
    }
    return out;
  }

  /** Leading blocks of `chain` the worker has seen. */
  match(workerId: string, chain: readonly bigint[]): number {
    const seen = this.#workers.get(workerId);
    if (!seen) return 0;
    let n = 0;
    while (n < chain.length && seen.has(chain[n]!)) n++;
    return n;
  }

  /** Records that the worker now holds these blocks (freshest last). */
  insert(workerId: string, chain: readonly bigint[]): void {
    if (chain.length === 0) return;
    let seen = this.#workers.get(workerId);
    if (!seen) {
      seen = new Map();
      this.#workers.set(workerId, seen);
    }
    for (const h of chain) {
      seen.delete(h);
      seen.set(h, true);
    }
    while (seen.size > this.options.maxBlocksPerWorker) seen.delete(seen.keys().next().value as bigint);
  }

  forget(workerId: string): void {
    this.#workers.delete(workerId);
  }

  /** Characters of `chain` the worker has seen. */
  matchedChars(workerId: string, chain: readonly bigint[]): number {
    return this.match(workerId, chain) * this.options.blockChars;
  }
}
