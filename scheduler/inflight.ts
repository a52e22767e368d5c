// In-flight load per worker, as this scheduler and its replicas see them: requests, and the
// tokens those requests still have to prefill or hold while they decode (the load model of
// Dynamo's router, docs/ARCHITECTURE.md#load-the-router-predicts-not-load-it-is-told: predicted at once from what the router sent,
// not read from heartbeats a fraction of a second old). Each replica publishes its own absolute
// figures on llm.v1.sched.sync (what changed, at most every few ms, and everything once a
// second); receivers keep the latest per replica and forget a replica that goes quiet. Absolute
// figures instead of deltas: a lost or duplicated message cannot skew the sum, and a replica that
// dies takes its load with it. The message's form on the bus is proto/sched-sync.ts. Pure
// state, clock injected.
import type { SyncMessage } from '../proto/sched-sync.ts';

/** Tokens a worker still has to compute for prompts, and tokens of KV its decoding requests hold. */
export interface TokenLoad {
  readonly prefill: number;
  readonly decode: number;
}

/** A worker's load over every replica, kept current by each change (what candidate lists read at every pick). */
export interface LoadCell extends TokenLoad {
  readonly requests: number;
}

/** A sum of some workers' requests in flight, kept current by their cells' holder. */
export interface RequestSum {
  requests: number;
}

/** One request's share of a worker's load, from the call until {@link InflightHandle.end}. */
export interface InflightHandle {
  /** The worker sent its first byte: the prompt is computed and its KV is now held while decoding. */
  prefillDone(): void;
  /** The call is over (answered, failed or aborted). Idempotent. */
  end(): void;
}

interface Load {
  requests: number;
  prefill: number;
  decode: number;
}

const ZERO: TokenLoad = Object.freeze({ prefill: 0, decode: 0 });

export class InflightTracker {
  readonly self: string;
  readonly #now: () => number;
  readonly #peerTtlMs: number;
  readonly #local = new Map<string, Load>();
  readonly #dirty = new Set<string>();
  readonly #peers = new Map<string, { seen: number; loads: Map<string, Load> }>();
  /** Sum over peers, kept incrementally so that reads are O(1). */
  readonly #remote = new Map<string, Load>();
  /** Local + remote of the workers someone holds a cell of, updated at each change. */
  readonly #cells = new Map<string, { readonly load: Load; holds: number; readonly sums: RequestSum[] }>();

  constructor(self: string, now: () => number, peerTtlMs = 3000) {
    this.self = self;
    this.#now = now;
    this.#peerTtlMs = peerTtlMs;
  }

  /** This replica's request count for a worker. */
  local(workerId: string): number {
    return this.#local.get(workerId)?.requests ?? 0;
  }

  /** Every replica's request count for a worker. */
  total(workerId: string): number {
    return this.local(workerId) + (this.#remote.get(workerId)?.requests ?? 0);
  }

  /** Every replica's token load on a worker. */
  tokens(workerId: string): TokenLoad {
    const l = this.#local.get(workerId);
    const r = this.#remote.get(workerId);
    if (!l && !r) return ZERO;
    return { prefill: (l?.prefill ?? 0) + (r?.prefill ?? 0), decode: (l?.decode ?? 0) + (r?.decode ?? 0) };
  }

  /**
   * The worker's live totals, whose figures are always `total` and `tokens`, kept current until
   * every holder has released it (one object per worker, however many hold it). A pick that reads
   * a thousand workers reads these instead of looking each one up. With `sum`, each change of the
   * worker's request count is added to it too (the holder counts the cell's figure in first).
   */
  holdCell(workerId: string, sum?: RequestSum): LoadCell {
    let c = this.#cells.get(workerId);
    if (!c) {
      c = { load: { requests: 0, prefill: 0, decode: 0 }, holds: 0, sums: [] };
      this.#cells.set(workerId, c);
      this.#refresh(workerId, c.load);
    }
    c.holds++;
    if (sum) c.sums.push(sum);
    return c.load;
  }

  /** One holder of the worker's cell is done with it (and with `sum`, if it gave one). */
  releaseCell(workerId: string, sum?: RequestSum): void {
    const c = this.#cells.get(workerId);
    if (!c) return;
    if (sum) {
      const i = c.sums.indexOf(sum);
      if (i >= 0) c.sums.splice(i, 1);
    }
    if (--c.holds <= 0) this.#cells.delete(workerId);
  }

  /**
   * A request goes to a worker: it will compute `prefill` prompt tokens there, then hold `decode`
   * tokens of KV while it decodes (with no prefill to do, it holds them from the start).
   */
  start(workerId: string, prefill = 0, decode = 0): InflightHandle {
    const p = Math.max(0, Math.round(prefill));
    const dTokens = Math.max(0, Math.round(decode));
    let phase: 'prefill' | 'decode' | 'ended' = p > 0 ? 'prefill' : 'decode';
    this.#add(workerId, 1, p, phase === 'decode' ? dTokens : 0);
    return {
      prefillDone: () => {
        if (phase !== 'prefill') return;
        phase = 'decode';
        this.#add(workerId, 0, -p, dTokens);
      },
      end: () => {
        if (phase === 'ended') return;
        this.#add(workerId, -1, phase === 'prefill' ? -p : 0, phase === 'decode' ? -dTokens : 0);
        phase = 'ended';
      },
    };
  }

  /** A request with no token estimate (tests and callers that only count). */
  inc(workerId: string): void {
    this.#add(workerId, 1, 0, 0);
  }

  dec(workerId: string): void {
    this.#add(workerId, -1, 0, 0);
  }

  get hasChanges(): boolean {
    return this.#dirty.size > 0;
  }

  /** The message to publish: changed workers only, or everything (`full`). */
  snapshot(full: boolean): SyncMessage {
    const counts: Record<string, number> = {};
    const tokens: Record<string, [number, number]> = {};
    const put = (w: string): void => {
      const l = this.#local.get(w);
      counts[w] = l?.requests ?? 0;
      tokens[w] = [l?.prefill ?? 0, l?.decode ?? 0];
    };
    if (full) for (const w of this.#local.keys()) put(w);
    for (const w of this.#dirty) put(w);
    this.#dirty.clear();
    return { from: this.self, full, counts, tokens, sentAt: this.#now() };
  }

  apply(m: SyncMessage): void {
    if (m.from === this.self) return;
    let peer = this.#peers.get(m.from);
    if (!peer) {
      peer = { seen: 0, loads: new Map() };
      this.#peers.set(m.from, peer);
    }
    peer.seen = this.#now();
    if (m.full) {
      // Own keys only: worker ids such as `constructor` are valid and must not match Object.prototype.
      for (const w of [...peer.loads.keys()]) if (!Object.hasOwn(m.counts, w)) this.#setPeer(peer.loads, w, { requests: 0, prefill: 0, decode: 0 });
    }
    for (const [w, n] of Object.entries(m.counts)) {
      const t = m.tokens && Object.hasOwn(m.tokens, w) ? m.tokens[w] : undefined;
      this.#setPeer(peer.loads, w, { requests: n, prefill: t?.[0] ?? 0, decode: t?.[1] ?? 0 });
    }
  }

  /** Forgets replicas not heard from within the TTL (crashed or gone). */
  expire(): string[] {
    const now = this.#now();
    const gone: string[] = [];
    for (const [id, p] of this.#peers) {
      if (now - p.seen <= this.#peerTtlMs) continue;
      for (const w of [...p.loads.keys()]) this.#setPeer(p.loads, w, { requests: 0, prefill: 0, decode: 0 });
      this.#peers.delete(id);
      gone.push(id);
    }
    return gone;
  }

  peers(): string[] {
    return [...this.#peers.keys()];
  }

  #add(workerId: string, requests: number, prefill: number, decode: number): void {
    const l = this.#local.get(workerId) ?? { requests: 0, prefill: 0, decode: 0 };
    l.requests = Math.max(0, l.requests + requests);
    l.prefill = Math.max(0, l.prefill + prefill);
    l.decode = Math.max(0, l.decode + decode);
    if (l.requests === 0 && l.prefill === 0 && l.decode === 0) this.#local.delete(workerId);
    else this.#local.set(workerId, l);
    this.#dirty.add(workerId);
    this.#changed(workerId);
  }

  /** Brings the worker's cell, if someone holds it, and the sums that count it up to date. */
  #changed(workerId: string): void {
    const c = this.#cells.get(workerId);
    if (!c) return;
    const before = c.load.requests;
    this.#refresh(workerId, c.load);
    const delta = c.load.requests - before;
    if (delta !== 0) for (const s of c.sums) s.requests += delta;
  }

  /** Sums as `total` and `tokens` do. */
  #refresh(workerId: string, c: Load): void {
    const l = this.#local.get(workerId);
    const r = this.#remote.get(workerId);
    c.requests = (l?.requests ?? 0) + (r?.requests ?? 0);
    c.prefill = (l?.prefill ?? 0) + (r?.prefill ?? 0);
    c.decode = (l?.decode ?? 0) + (r?.decode ?? 0);
  }

  #setPeer(loads: Map<string, Load>, worker: string, after: Load): void {
    const before = loads.get(worker) ?? { requests: 0, prefill: 0, decode: 0 };
    if (after.requests > 0 || after.prefill > 0 || after.decode > 0) loads.set(worker, after);
    else loads.delete(worker);
    const r = this.#remote.get(worker) ?? { requests: 0, prefill: 0, decode: 0 };
    r.requests += after.requests - before.requests;
    r.prefill += after.prefill - before.prefill;
    r.decode += after.decode - before.decode;
    if (r.requests > 0 || r.prefill > 0 || r.decode > 0) this.#remote.set(worker, r);
    else this.#remote.delete(worker);
    this.#changed(worker);
  }
}
