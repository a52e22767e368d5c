// The candidate lists a pick hands its policy, kept from one pick to the next. Building one is
// O(workers): a thousand objects, each with its in-flight figures looked up. The registry's list
// for a model and pool stays the same array until the fleet changes, its workers' views are
// updated in place, and each candidate here reads its worker's figures live from the in-flight
// tracker's cell: so a list is built once per fleet change, and a pick costs what its policy
// reads, not the fleet's size. Workers whose circuit breaker keeps requests out are left out
// through a short list of breakers that are not closed, not by asking every worker's. Each list
// also keeps its total load (what bounded_load's bound needs), from the heartbeats that change a
// worker's reported load and the in-flight changes its cells see.
import type { CircuitBreakers } from './circuit-breaker.ts';
import type { InflightTracker, LoadCell, RequestSum, TokenLoad } from './inflight.ts';
import { type Candidate, type CandidateList, loadOf } from './policies/types.ts';
import type { Registry, WorkerView } from './registry.ts';

/** A candidate whose figures are the tracker's, as they are when the policy reads them. */
class LiveCandidate implements Candidate {
  readonly worker: WorkerView;
  readonly #cell: LoadCell;

  constructor(worker: WorkerView, cell: LoadCell) {
    this.worker = worker;
    this.#cell = cell;
  }

  get inflight(): number {
    return this.#cell.requests;
  }

  get tokens(): TokenLoad {
    return this.#cell;
  }
}

interface Entry {
  readonly candidates: CandidateList;
  /** Worker id → index in `candidates`. */
  readonly position: ReadonlyMap<string, number>;
  /** `candidates` without some of them (the indexes, joined by commas), most recently used last. */
  readonly without: Map<string, CandidateList>;
  /** The candidates' requests in flight (kept by their cells) and reported running + waiting (kept by heartbeats). */
  readonly sums: RequestSum & { reported: number };
}

export class CandidateCache {
  /** Lists kept: one per model and pool in use, and a few the fleet just changed from. */
  static readonly SLOTS = 8;
  /** Breaker-filtered variants kept per list. */
  static readonly VARIANTS = 4;
  readonly #inflight: InflightTracker;
  /** Keyed by the registry's array; most recently used last. */
  readonly #entries = new Map<readonly WorkerView[], Entry>();

  constructor(inflight: InflightTracker, registry: Registry) {
    this.#inflight = inflight;
    registry.watchLoads((view, before) => this.#loadChanged(view, before));
  }

  /**
   * `workers` as candidates, less those whose circuit breaker keeps requests out: what
   * `workers.filter((w) => breakers.allows(w.id))` would give, as the same array while the list and
   * the breakers stay the same (policies may key their caches on it).
   */
  allowed(workers: readonly WorkerView[], breakers: CircuitBreakers): CandidateList {
    // An empty list is not the registry's (it keeps none): nothing worth a slot.
    if (workers.length === 0) return [];
    const e = this.#entry(workers);
    if (breakers.notClosed().size === 0) return e.candidates;
    const suspect: number[] = [];
    for (const id of breakers.notClosed()) {
      const i = e.position.get(id);
      if (i !== undefined) suspect.push(i);
    }
    if (suspect.length === 0) return e.candidates;
    // Asked in the list's order, as the filter would (asking may half-open a breaker, which is announced).
    suspect.sort((a, b) => a - b);
    const out = suspect.filter((i) => !breakers.allows(e.candidates[i]!.worker.id));
    if (out.length === 0) return e.candidates;
    const key = out.join(',');
    let list = e.without.get(key);
    if (list) e.without.delete(key);
    else {
      const skip = new Set(out);
      const all = e.candidates;
      const without = all.filter((_, i) => !skip.has(i));
      Object.defineProperty(without, 'loadTotal', {
        get: () => {
          let total = all.loadTotal!;
          for (const i of out) total -= loadOf(all[i]!);
          return total;
        },
      });
      list = without;
      if (e.without.size >= CandidateCache.VARIANTS) e.without.delete(e.without.keys().next().value!);
    }
    e.without.set(key, list);
    return list;
  }

  #entry(workers: readonly WorkerView[]): Entry {
    const hit = this.#entries.get(workers);
    if (hit) {
      this.#entries.delete(workers);
      this.#entries.set(workers, hit);
      return hit;
    }
    const sums = { requests: 0, reported: 0 };
    const candidates = workers.map((w) => {
      const cell = this.#inflight.holdCell(w.id, sums);
      sums.requests += cell.requests;
      sums.reported += w.load.running + w.load.waiting;
      return new LiveCandidate(w, cell);
    });
    // Counts are integers: kept sums are exactly what summing the list would give.
    Object.defineProperty(candidates, 'loadTotal', { get: () => sums.reported + sums.requests });
    const e: Entry = { candidates, position: new Map(workers.map((w, i) => [w.id, i])), without: new Map(), sums };
    if (this.#entries.size >= CandidateCache.SLOTS) {
      const [oldest, dropped] = this.#entries.entries().next().value!;
      this.#entries.delete(oldest);
      for (const c of dropped.candidates) this.#inflight.releaseCell(c.worker.id, dropped.sums);
    }
    this.#entries.set(workers, e);
    return e;
  }

  /** A heartbeat changed `view`'s reported load: the lists that hold that very view count the difference. */
  #loadChanged(view: WorkerView, before: WorkerView['load']): void {
    const delta = view.load.running + view.load.waiting - (before.running + before.waiting);
    if (delta === 0) return;
    for (const e of this.#entries.values()) {
      const i = e.position.get(view.id);
      if (i !== undefined && e.candidates[i]!.worker === view) e.sums.reported += delta;
    }
  }
}
