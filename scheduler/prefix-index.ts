// An approximate view of each worker's prefix cache, kept by the router from what it sent where
// (no engine events needed): prompts are cut into fixed-size text blocks whose hashes chain, as
// vLLM chains KV-block hashes, and each worker remembers the chains it was sent, least recently
// used first out. A request's match on a worker is how many leading blocks that worker has seen.
// Pure, clock-free, bounded in memory.
//
// Built for a policy that asks for every candidate's match on every request, in a fleet of a
// thousand workers whose popular system prompts each of them holds: `matcher` walks the chain
// once for all workers, intersecting the sets of workers that hold each block (a bitset for a
// block many hold, a list for the rest), instead of walking it once per worker. Everything is in
// typed arrays, each record's fields side by side (a block, a (worker, block) node in both the
// worker's LRU list and the block's list of holders), so a million blocks cost the garbage
// collector nothing to trace and an insert touches few cache lines. Block hashes are 64-bit
// (what `chain` makes).
import { hash64 } from '../proto/hash.ts';
import { PairTable } from './pair-table.ts';

export interface PrefixIndexOptions {
  /** Characters per block (about 32 tokens at the default). */
  readonly blockChars: number;
  /** Blocks remembered per worker; roughly its KV capacity in these blocks. */
  readonly maxBlocksPerWorker: number;
}

export const PREFIX_INDEX_DEFAULTS: PrefixIndexOptions = Object.freeze({ blockChars: 128, maxBlocksPerWorker: 100_000 });

/** A list of workers a matcher can answer for by position (a policy's candidates). */
export interface Listed {
  readonly worker: { readonly id: string };
}

const NONE = -1;
/** Blocks of forgotten workers let go per insert or forget. */
const RECLAIM_PER_CALL = 64;
/** A 64-bit hash as two 32-bit halves, without allocating. */
const hash = new BigUint64Array(1);
const halves = new Uint32Array(hash.buffer);

/** A node: a block one worker holds. Int32 fields, NODE apart. */
const NODE = 8;
const SLOT = 0;
const BLOCK = 1;
const LRU_PREV = 2;
const LRU_NEXT = 3;
const HOLDER_PREV = 4;
const HOLDER_NEXT = 5;

/** A block: its hash, how many hold it, the first of their nodes, its bitset. Int32 fields, BLOCK_INTS apart. */
const BLOCK_INTS = 8;
const LO = 0;
const HI = 1;
const HOLDERS = 2;
const HEAD = 3;
const BITSET = 4;

export class PrefixIndex {
  readonly options: PrefixIndexOptions;

  // Workers: each has a slot, and a list of the blocks it holds, least recently sent first.
  readonly #slotOf = new Map<string, number>();
  readonly #freeSlots: number[] = [];
  /** Slots of forgotten workers whose blocks are still being let go (oldest first), and how many blocks that is. */
  readonly #dying: number[] = [];
  #dyingBlocks = 0;
  #slots = 0;
  /** Slots there is room for (a power of two, at least 64): the width of every bitset. */
  #slotCap = 0;
  #lruHead = new Int32Array(0);
  #lruTail = new Int32Array(0);
  #held = new Int32Array(0);

  readonly #blockOf = new PairTable();
  #block = new Int32Array(0);
  #blocks = 0;
  /** Freed blocks, chained through HEAD. */
  #freeBlock = NONE;

  #node = new Int32Array(0);
  #nodes = 0;
  /** Freed nodes, chained through LRU_NEXT. */
  #freeNode = NONE;
  #live = 0;

  // A block many workers hold has a bitset of them (`#words` words) and a slot → node map.
  #words = 0;
  #bits = new Uint32Array(0);
  #slotNode = new Int32Array(0);
  #bitsets = 0;
  readonly #freeBitsets: number[] = [];

  // The last `matcher`'s answers: depth per slot, valid where stamp === epoch.
  #depth = new Int32Array(0);
  #stamp = new Int32Array(0);
  #epoch = 0;
  /** Bumped by every change, so that a matcher knows when its answers are stale. */
  #version = 0;
  #alive = new Uint32Array(0);
  #list = new Int32Array(0);
  /** Bumped when a worker gets or loses its slot: lists' cached slots are then stale. */
  #slotGeneration = 0;
  readonly #listSlots = new WeakMap<readonly Listed[], { readonly generation: number; readonly slots: Int32Array }>();

  constructor(options: Partial<PrefixIndexOptions> = {}) {
    this.options = { ...PREFIX_INDEX_DEFAULTS, ...options };
    if (!(this.options.blockChars >= 1 && this.options.maxBlocksPerWorker >= 1)) throw new RangeError('prefix index sizes must be >= 1');
    this.#growSlots(64);
    this.#block = new Int32Array(1024 * BLOCK_INTS);
    this.#node = new Int32Array(1024 * NODE);
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
    const s = this.#slotOf.get(workerId);
    if (s === undefined) return 0;
    for (let i = 0; i < chain.length; i++) {
      const b = this.#find(chain[i]!);
      if (b === NONE || !this.#holds(b, s)) return i;
    }
    return chain.length;
  }

  /**
   * `match` for every worker at once: the chain is walked here, once; the function then answers
   * for any worker in constant time, for as long as the index does not change (after a change, or
   * another `matcher`, it falls back to `match`). With `list`, a caller that names `list[index]`'s
   * worker may pass `index` and be answered without looking the worker up (a wrong index is only
   * a missed shortcut); the list's lookups are made once and kept while it and the index's
   * workers stay the same.
   */
  matcher(chain: readonly bigint[], list?: readonly Listed[]): (workerId: string, index?: number) => number {
    if (this.#epoch >= 0x3fffffff) {
      this.#stamp.fill(0);
      this.#epoch = 0;
    }
    const epoch = ++this.#epoch;
    const version = this.#version;
    this.#matchAll(chain, epoch);
    const slots = list ? this.#slotsOf(list) : null;
    return (workerId, index) => {
      if (this.#epoch !== epoch || this.#version !== version) return this.match(workerId, chain);
      const s = slots !== null && index !== undefined && list![index]?.worker.id === workerId ? slots[index]! : (this.#slotOf.get(workerId) ?? NONE);
      return s !== NONE && this.#stamp[s] === epoch ? this.#depth[s]! : 0;
    };
  }

  /** Each listed worker's slot (NONE: never sent anything), kept per list until a worker gets or loses a slot. */
  #slotsOf(list: readonly Listed[]): Int32Array {
    const hit = this.#listSlots.get(list);
    if (hit && hit.generation === this.#slotGeneration) return hit.slots;
    const slots = new Int32Array(list.length);
    for (let i = 0; i < list.length; i++) slots[i] = this.#slotOf.get(list[i]!.worker.id) ?? NONE;
    this.#listSlots.set(list, { generation: this.#slotGeneration, slots });
    return slots;
  }

  /** Records that the worker now holds these blocks (freshest last). */
  insert(workerId: string, chain: readonly bigint[]): void {
    if (chain.length === 0) return;
    this.#version++;
    const s = this.#slot(workerId);
    for (let i = 0; i < chain.length; i++) {
      hash[0] = chain[i]!;
      const lo = halves[0]!;
      const hi = halves[1]!;
      const b = this.#blockOf.get(lo, hi);
      if (b === NONE) {
        this.#newNode(s, this.#newBlock(lo, hi));
        continue;
      }
      const n = this.#nodeOf(b, s);
      if (n === NONE) this.#newNode(s, b);
      else if (this.#lruTail[s] !== n) {
        this.#unlinkLru(s, n);
        this.#appendLru(s, n);
      }
    }
    while (this.#held[s]! > this.options.maxBlocksPerWorker) this.#removeNode(this.#lruHead[s]!);
    if (this.#dying.length > 0) this.#reclaim();
  }

  forget(workerId: string): void {
    const s = this.#slotOf.get(workerId);
    if (s === undefined) return;
    this.#version++;
    this.#slotOf.delete(workerId);
    this.#slotGeneration++;
    // A worker may hold a hundred thousand blocks: they are let go a few per call, not in one
    // pause of the event loop. Until then no id leads to the slot, and it is not reused.
    this.#dyingBlocks += this.#held[s]!;
    this.#dying.push(s);
    this.#reclaim();
  }

  /** Blocks remembered over all workers. */
  get size(): number {
    return this.#live - this.#dyingBlocks;
  }

  /** Lets go of some of the forgotten workers' blocks; a slot is free again once it holds none. */
  #reclaim(): void {
    let budget = RECLAIM_PER_CALL;
    while (budget > 0 && this.#dying.length > 0) {
      const s = this.#dying[0]!;
      for (; budget > 0 && this.#lruHead[s] !== NONE; budget--) {
        this.#removeNode(this.#lruHead[s]!);
        this.#dyingBlocks--;
      }
      if (this.#lruHead[s] === NONE) {
        this.#dying.shift();
        this.#freeSlots.push(s);
      }
    }
  }

  /** Characters of `chain` the worker has seen. */
  matchedChars(workerId: string, chain: readonly bigint[]): number {
    return this.match(workerId, chain) * this.options.blockChars;
  }

  #find(h: bigint): number {
    hash[0] = h;
    return this.#blockOf.get(halves[0]!, halves[1]!);
  }

  #holds(b: number, s: number): boolean {
    const bs = this.#block[b * BLOCK_INTS + BITSET]!;
    if (bs !== NONE) return (this.#bits[bs * this.#words + (s >>> 5)]! & (1 << (s & 31))) !== 0;
    return this.#nodeOf(b, s) !== NONE;
  }

  /** The node of block `b` on slot `s`, or NONE. */
  #nodeOf(b: number, s: number): number {
    const bs = this.#block[b * BLOCK_INTS + BITSET]!;
    if (bs !== NONE) return this.#slotNode[bs * this.#slotCap + s]!;
    const node = this.#node;
    for (let n = this.#block[b * BLOCK_INTS + HEAD]!; n !== NONE; n = node[n * NODE + HOLDER_NEXT]!) if (node[n * NODE + SLOT] === s) return n;
    return NONE;
  }

  /**
   * Depth per slot for every worker holding the chain's first block (others match nothing): the
   * set of workers still matching, intersected with each next block's holders until it empties.
   */
  #matchAll(chain: readonly bigint[], epoch: number): void {
    if (chain.length === 0) return;
    let b = this.#find(chain[0]!);
    if (b === NONE) return;
    const words = this.#words;
    const bits = this.#bits;
    const alive = this.#alive;
    const list = this.#list;
    const node = this.#node;
    const block = this.#block;
    let bs = block[b * BLOCK_INTS + BITSET]!;
    let dense = bs !== NONE;
    let count = 0;
    if (dense) for (let w = 0; w < words; w++) alive[w] = bits[bs * words + w]!;
    else for (let n = block[b * BLOCK_INTS + HEAD]!; n !== NONE; n = node[n * NODE + HOLDER_NEXT]!) list[count++] = node[n * NODE + SLOT]!;
    let j = 1;
    for (; j < chain.length; j++) {
      b = this.#find(chain[j]!);
      if (b === NONE) break;
      bs = block[b * BLOCK_INTS + BITSET]!;
      if (dense && bs !== NONE) {
        let any = 0;
        const base = bs * words;
        for (let w = 0; w < words; w++) {
          const a = alive[w]!;
          if (a === 0) continue;
          const next = a & bits[base + w]!;
          if (next !== a) this.#record(w, a & ~next, j, epoch);
          alive[w] = next;
          any |= next;
        }
        if (any === 0) return;
      } else if (dense) {
        // Few hold this block: the survivors become a list; every other alive worker stops here.
        count = 0;
        for (let n = block[b * BLOCK_INTS + HEAD]!; n !== NONE; n = node[n * NODE + HOLDER_NEXT]!) {
          const s = node[n * NODE + SLOT]!;
          if ((alive[s >>> 5]! & (1 << (s & 31))) !== 0) list[count++] = s;
        }
        for (let w = 0; w < words; w++) if (alive[w] !== 0) this.#record(w, alive[w]!, j, epoch);
        dense = false;
        if (count === 0) return;
      } else {
        let kept = 0;
        for (let i = 0; i < count; i++) {
          const s = list[i]!;
          if (this.#holds(b, s)) list[kept++] = s;
          else {
            this.#depth[s] = j;
            this.#stamp[s] = epoch;
          }
        }
        count = kept;
        if (count === 0) return;
      }
    }
    // The survivors matched up to j (the whole chain, or up to a block nobody holds).
    if (dense) {
      for (let w = 0; w < words; w++) if (alive[w] !== 0) this.#record(w, alive[w]!, j, epoch);
    } else
      for (let i = 0; i < count; i++) {
        this.#depth[list[i]!] = j;
        this.#stamp[list[i]!] = epoch;
      }
  }

  /** Depth `j` for the slots of word `w` whose bits are set in `mask`. */
  #record(w: number, mask: number, j: number, epoch: number): void {
    while (mask !== 0) {
      const low = mask & -mask;
      const s = (w << 5) | (31 - Math.clz32(low));
      this.#depth[s] = j;
      this.#stamp[s] = epoch;
      mask ^= low;
    }
  }

  #slot(workerId: string): number {
    let s = this.#slotOf.get(workerId);
    if (s !== undefined) return s;
    s = this.#freeSlots.pop();
    if (s === undefined) {
      if (this.#slots === this.#slotCap) this.#growSlots(this.#slotCap * 2);
      s = this.#slots++;
    }
    this.#lruHead[s] = NONE;
    this.#lruTail[s] = NONE;
    this.#held[s] = 0;
    this.#slotOf.set(workerId, s);
    this.#slotGeneration++;
    return s;
  }

  #newBlock(lo: number, hi: number): number {
    let b = this.#freeBlock;
    if (b !== NONE) this.#freeBlock = this.#block[b * BLOCK_INTS + HEAD]!;
    else {
      if ((this.#blocks + 1) * BLOCK_INTS > this.#block.length) this.#block = grown(this.#block, this.#block.length * 2);
      b = this.#blocks++;
    }
    const r = b * BLOCK_INTS;
    const block = this.#block;
    block[r + LO] = lo;
    block[r + HI] = hi;
    block[r + HOLDERS] = 0;
    block[r + HEAD] = NONE;
    block[r + BITSET] = NONE;
    this.#blockOf.set(lo, hi, b);
    return b;
  }

  #newNode(s: number, b: number): void {
    let n = this.#freeNode;
    if (n !== NONE) this.#freeNode = this.#node[n * NODE + LRU_NEXT]!;
    else {
      if ((this.#nodes + 1) * NODE > this.#node.length) this.#node = grown(this.#node, this.#node.length * 2);
      n = this.#nodes++;
    }
    const node = this.#node;
    const block = this.#block;
    const r = n * NODE;
    const br = b * BLOCK_INTS;
    node[r + SLOT] = s;
    node[r + BLOCK] = b;
    this.#appendLru(s, n);
    this.#held[s]!++;
    this.#live++;
    // First in the block's holders.
    const head = block[br + HEAD]!;
    node[r + HOLDER_PREV] = NONE;
    node[r + HOLDER_NEXT] = head;
    if (head !== NONE) node[head * NODE + HOLDER_PREV] = n;
    block[br + HEAD] = n;
    const holders = ++block[br + HOLDERS]!;
    const bs = block[br + BITSET]!;
    if (bs !== NONE) {
      this.#bits[bs * this.#words + (s >>> 5)]! |= 1 << (s & 31);
      this.#slotNode[bs * this.#slotCap + s] = n;
    } else if (holders >= this.#denseAt()) this.#toBitset(b);
  }

  #removeNode(n: number): void {
    const node = this.#node;
    const block = this.#block;
    const r = n * NODE;
    const s = node[r + SLOT]!;
    const b = node[r + BLOCK]!;
    const br = b * BLOCK_INTS;
    this.#unlinkLru(s, n);
    this.#held[s]!--;
    this.#live--;
    const prev = node[r + HOLDER_PREV]!;
    const next = node[r + HOLDER_NEXT]!;
    if (prev !== NONE) node[prev * NODE + HOLDER_NEXT] = next;
    else block[br + HEAD] = next;
    if (next !== NONE) node[next * NODE + HOLDER_PREV] = prev;
    const holders = --block[br + HOLDERS]!;
    const bs = block[br + BITSET]!;
    if (bs !== NONE) {
      this.#bits[bs * this.#words + (s >>> 5)]! &= ~(1 << (s & 31));
      this.#slotNode[bs * this.#slotCap + s] = NONE;
      if (holders < this.#denseAt() >>> 2) this.#fromBitset(b);
    }
    node[r + LRU_NEXT] = this.#freeNode;
    this.#freeNode = n;
    if (holders === 0) {
      this.#blockOf.delete(block[br + LO]!, block[br + HI]!);
      block[br + HEAD] = this.#freeBlock;
      this.#freeBlock = b;
    }
  }

  #appendLru(s: number, n: number): void {
    const node = this.#node;
    const tail = this.#lruTail[s]!;
    node[n * NODE + LRU_PREV] = tail;
    node[n * NODE + LRU_NEXT] = NONE;
    if (tail !== NONE) node[tail * NODE + LRU_NEXT] = n;
    else this.#lruHead[s] = n;
    this.#lruTail[s] = n;
  }

  #unlinkLru(s: number, n: number): void {
    const node = this.#node;
    const prev = node[n * NODE + LRU_PREV]!;
    const next = node[n * NODE + LRU_NEXT]!;
    if (prev !== NONE) node[prev * NODE + LRU_NEXT] = next;
    else this.#lruHead[s] = next;
    if (next !== NONE) node[next * NODE + LRU_PREV] = prev;
    else this.#lruTail[s] = prev;
  }

  /**
   * Holders from which a block gets a bitset and a slot → node map: a thirty-second of the slots
   * (at least 8), so that they cost at most about 130 bytes per holder; they go again under a
   * quarter of that. Below it, finding a worker's node walks the block's few holders.
   */
  #denseAt(): number {
    return Math.max(8, this.#slotCap >>> 5);
  }

  #toBitset(b: number): void {
    let bs = this.#freeBitsets.pop();
    if (bs === undefined) {
      bs = this.#bitsets++;
      if (this.#bitsets * this.#words > this.#bits.length) {
        const cap = Math.max(16, this.#bitsets * 2);
        this.#bits = grownU32(this.#bits, cap * this.#words);
        this.#slotNode = grown(this.#slotNode, cap * this.#slotCap);
      }
    }
    const base = bs * this.#words;
    this.#bits.fill(0, base, base + this.#words);
    this.#slotNode.fill(NONE, bs * this.#slotCap, (bs + 1) * this.#slotCap);
    const node = this.#node;
    for (let n = this.#block[b * BLOCK_INTS + HEAD]!; n !== NONE; n = node[n * NODE + HOLDER_NEXT]!) {
      const s = node[n * NODE + SLOT]!;
      this.#bits[base + (s >>> 5)]! |= 1 << (s & 31);
      this.#slotNode[bs * this.#slotCap + s] = n;
    }
    this.#block[b * BLOCK_INTS + BITSET] = bs;
  }

  #fromBitset(b: number): void {
    this.#freeBitsets.push(this.#block[b * BLOCK_INTS + BITSET]!);
    this.#block[b * BLOCK_INTS + BITSET] = NONE;
  }

  #growSlots(cap: number): void {
    this.#lruHead = grown(this.#lruHead, cap);
    this.#lruTail = grown(this.#lruTail, cap);
    this.#held = grown(this.#held, cap);
    this.#depth = grown(this.#depth, cap);
    this.#stamp = grown(this.#stamp, cap);
    this.#list = grown(this.#list, cap);
    // Bitsets and slot → node maps are as wide as the slots: widen every one.
    const words = cap >>> 5;
    const room = Math.max(16, this.#bitsets);
    const bits = new Uint32Array(room * words);
    const slotNode = new Int32Array(room * cap).fill(NONE);
    for (let bs = 0; bs < this.#bitsets; bs++) {
      bits.set(this.#bits.subarray(bs * this.#words, (bs + 1) * this.#words), bs * words);
      slotNode.set(this.#slotNode.subarray(bs * this.#slotCap, (bs + 1) * this.#slotCap), bs * cap);
    }
    this.#bits = bits;
    this.#slotNode = slotNode;
    this.#words = words;
    this.#slotCap = cap;
    this.#alive = new Uint32Array(words);
  }
}

function grown(a: Int32Array, length: number): Int32Array<ArrayBuffer> {
  const out = new Int32Array(length);
  out.set(a);
  return out;
}

function grownU32(a: Uint32Array, length: number): Uint32Array<ArrayBuffer> {
  const out = new Uint32Array(length);
  out.set(a);
  return out;
}
