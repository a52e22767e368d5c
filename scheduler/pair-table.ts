// A hash table from a pair of 32-bit integers to a non-negative 32-bit integer, in one typed
// array: the prefix index keys its blocks (a 64-bit hash as two halves) this way, where a Map
// would hold a million heap objects for the GC to trace. Open addressing with linear probing, each
// entry's key and value side by side (one cache line per probe); deletion shifts the entries after
// a hole back, so there are no tombstones and a lookup never walks further than its key's run.

const EMPTY = -1;
/** Int32s per entry: a, b, value, padding (16 bytes, four to a cache line). */
const STRIDE = 4;

export class PairTable {
  #t: Int32Array;
  #mask: number;
  #size = 0;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.#t = emptyTable(cap);
    this.#mask = cap - 1;
  }

  get size(): number {
    return this.#size;
  }

  /** The value stored for (a, b), or -1. */
  get(a: number, b: number): number {
    return this.#t[this.#slot(a | 0, b | 0) + 2]!;
  }

  /** Stores `value` (>= 0) for (a, b), replacing what was there. */
  set(a: number, b: number, value: number): void {
    if ((this.#size + 1) * 2 > this.#mask + 1) this.#grow();
    const a32 = a | 0;
    const b32 = b | 0;
    const e = this.#slot(a32, b32);
    const t = this.#t;
    if (t[e + 2] === EMPTY) {
      t[e] = a32;
      t[e + 1] = b32;
      this.#size++;
    }
    t[e + 2] = value;
  }

  /** Removes (a, b); false when it was not there. */
  delete(a: number, b: number): boolean {
    const t = this.#t;
    const mask = this.#mask;
    const start = this.#slot(a | 0, b | 0);
    if (t[start + 2] === EMPTY) return false;
    let i = start / STRIDE;
    // Shift back each later entry of the run whose home is not between the hole and it.
    for (let j = (i + 1) & mask; t[j * STRIDE + 2] !== EMPTY; j = (j + 1) & mask) {
      const f = j * STRIDE;
      const k = home(t[f]!, t[f + 1]!) & mask;
      const stays = i <= j ? i < k && k <= j : i < k || k <= j;
      if (stays) continue;
      const e = i * STRIDE;
      t[e] = t[f]!;
      t[e + 1] = t[f + 1]!;
      t[e + 2] = t[f + 2]!;
      i = j;
    }
    t[i * STRIDE + 2] = EMPTY;
    this.#size--;
    return true;
  }

  /** The offset of (a, b)'s entry, or of the empty entry where it would go (the table is never full). */
  #slot(a32: number, b32: number): number {
    const t = this.#t;
    const mask = this.#mask;
    for (let i = home(a32, b32) & mask; ; i = (i + 1) & mask) {
      const e = i * STRIDE;
      if (t[e + 2] === EMPTY || (t[e] === a32 && t[e + 1] === b32)) return e;
    }
  }

  #grow(): void {
    const old = this.#t;
    const cap = (this.#mask + 1) * 2;
    this.#t = emptyTable(cap);
    this.#mask = cap - 1;
    this.#size = 0;
    for (let e = 0; e < old.length; e += STRIDE) if (old[e + 2] !== EMPTY) this.set(old[e]!, old[e + 1]!, old[e + 2]!);
  }
}

function emptyTable(cap: number): Int32Array {
  const t = new Int32Array(cap * STRIDE);
  for (let e = 2; e < t.length; e += STRIDE) t[e] = EMPTY;
  return t;
}

/** Mixes both halves (keys may be small consecutive integers, not only random hashes). */
function home(a: number, b: number): number {
  let h = Math.imul(a ^ Math.imul(b, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
