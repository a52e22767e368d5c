// A consistent-hash ring over worker ids with virtual nodes. Every scheduler replica that sees
// the same workers builds the same ring, so they send a key to the same worker; a worker joining
// or leaving moves only the keys of its own arcs.
import { hash64 } from '../../proto/hash.ts';
import type { Candidate } from './types.ts';

export class HashRing {
  readonly ids: readonly string[];
  /** Sorted virtual-node positions, and the worker index at each. */
  readonly #points: BigUint64Array;
  readonly #owner: Uint32Array;

  constructor(ids: readonly string[], virtualNodes: number) {
    this.ids = ids;
    const n = ids.length * virtualNodes;
    const points = new Array<{ h: bigint; w: number }>(n);
    let k = 0;
    ids.forEach((id, w) => {
      for (let v = 0; v < virtualNodes; v++) points[k++] = { h: hash64(`${id}#${v}`), w };
    });
    points.sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : a.w - b.w));
    this.#points = BigUint64Array.from(points, (p) => p.h);
    this.#owner = Uint32Array.from(points, (p) => p.w);
  }

  get size(): number {
    return this.#points.length;
  }

  /** Index into the ring of the first virtual node at or after the key's hash (wrapping). */
  position(key: string): number {
    const h = hash64(key);
    let lo = 0;
    let hi = this.#points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.#points.length ? 0 : lo;
  }

  /** Worker index owning ring position `p` (any integer; wraps). */
  ownerAt(p: number): number {
    return this.#owner[p % this.#points.length]!;
  }

  /** The worker index a key maps to. */
  lookup(key: string): number {
    return this.ownerAt(this.position(key));
  }
}

/**
 * Keeps the rings of the last few candidate sets, rebuilt only for a set not seen lately. More
 * than one: a retry excludes the workers already tried, so retried and first attempts alternate
 * between two or three sets, and a single slot would rebuild (ids × virtual nodes hashes) on
 * every pick just when a worker is failing.
 */
export class RingCache {
  static readonly SLOTS = 4;
  readonly #virtualNodes: number;
  /** Most recently used last. */
  readonly #rings = new Map<string, HashRing>();
  /** Candidate list → its ring: a pick passes the same list while the fleet stays the same (no key to build). */
  readonly #byList = new WeakMap<readonly Candidate[], HashRing>();

  constructor(virtualNodes: number) {
    this.#virtualNodes = virtualNodes;
  }

  /** The ring of the candidates' worker ids, in their order. */
  of(candidates: readonly Candidate[]): HashRing {
    let ring = this.#byList.get(candidates);
    if (!ring) {
      ring = this.ring(candidates.map((c) => c.worker.id));
      this.#byList.set(candidates, ring);
    }
    return ring;
  }

  ring(ids: readonly string[]): HashRing {
    const key = ids.join('\n');
    let ring = this.#rings.get(key);
    if (ring) {
      this.#rings.delete(key);
    } else {
      ring = new HashRing(ids, this.#virtualNodes);
      if (this.#rings.size >= RingCache.SLOTS) this.#rings.delete(this.#rings.keys().next().value!);
    }
    this.#rings.set(key, ring);
    return ring;
  }
}
