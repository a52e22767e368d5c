// In-flight requests per worker, as this scheduler and its replicas see them. Each replica
// publishes its own absolute counts on llm.v1.sched.sync (what changed, at most every few ms,
// and everything once a second); receivers keep the latest per replica and forget a replica
// that goes quiet. Absolute counts instead of deltas: a lost or duplicated message cannot skew
// the sum, and a replica that dies takes its count with it. Pure state, clock injected.

export interface SyncMessage {
  /** Sending replica. */
  readonly from: string;
  /** Full snapshot (true) or only the workers that changed. */
  readonly full: boolean;
  /** workerId → this replica's in-flight count. */
  readonly counts: Readonly<Record<string, number>>;
  readonly sentAt: number;
}

export function isSyncMessage(v: unknown): v is SyncMessage {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  if (typeof o.from !== 'string' || typeof o.full !== 'boolean' || typeof o.sentAt !== 'number') return false;
  if (typeof o.counts !== 'object' || o.counts === null || Array.isArray(o.counts)) return false;
  return Object.values(o.counts).every((c) => Number.isInteger(c) && (c as number) >= 0 && (c as number) < 1e9);
}

export class InflightTracker {
  readonly self: string;
  readonly #now: () => number;
  readonly #peerTtlMs: number;
  readonly #local = new Map<string, number>();
  readonly #dirty = new Set<string>();
  readonly #peers = new Map<string, { seen: number; counts: Map<string, number> }>();
  /** Sum over peers, kept incrementally so that reads are O(1). */
  readonly #remote = new Map<string, number>();

  constructor(self: string, now: () => number, peerTtlMs = 3000) {
    this.self = self;
    this.#now = now;
    this.#peerTtlMs = peerTtlMs;
  }

  /** This replica's count for a worker. */
  local(workerId: string): number {
    return this.#local.get(workerId) ?? 0;
  }

  /** Every replica's count for a worker. */
  total(workerId: string): number {
    return this.local(workerId) + (this.#remote.get(workerId) ?? 0);
  }

  inc(workerId: string): void {
    this.#local.set(workerId, this.local(workerId) + 1);
    this.#dirty.add(workerId);
  }

  dec(workerId: string): void {
    const n = this.local(workerId) - 1;
    if (n > 0) this.#local.set(workerId, n);
    else this.#local.delete(workerId);
    this.#dirty.add(workerId);
  }

  get hasChanges(): boolean {
    return this.#dirty.size > 0;
  }

  /** The message to publish: changed workers only, or everything (`full`). */
  snapshot(full: boolean): SyncMessage {
    const counts: Record<string, number> = {};
    if (full) for (const [w, n] of this.#local) counts[w] = n;
    for (const w of this.#dirty) counts[w] = this.local(w);
    this.#dirty.clear();
    return { from: this.self, full, counts, sentAt: this.#now() };
  }

  apply(m: SyncMessage): void {
    if (m.from === this.self) return;
    let peer = this.#peers.get(m.from);
    if (!peer) {
      peer = { seen: 0, counts: new Map() };
      this.#peers.set(m.from, peer);
    }
    peer.seen = this.#now();
    if (m.full) {
      // Own keys only: worker ids such as `constructor` are valid and must not match Object.prototype.
      for (const [w, n] of peer.counts) if (!Object.hasOwn(m.counts, w)) this.#set(peer.counts, w, n, 0);
    }
    for (const [w, n] of Object.entries(m.counts)) this.#set(peer.counts, w, peer.counts.get(w) ?? 0, n);
  }

  /** Forgets replicas not heard from within the TTL (crashed or gone). */
  expire(): string[] {
    const now = this.#now();
    const gone: string[] = [];
    for (const [id, p] of this.#peers) {
      if (now - p.seen <= this.#peerTtlMs) continue;
      for (const [w, n] of p.counts) this.#set(p.counts, w, n, 0);
      this.#peers.delete(id);
      gone.push(id);
    }
    return gone;
  }

  peers(): string[] {
    return [...this.#peers.keys()];
  }

  #set(counts: Map<string, number>, worker: string, before: number, after: number): void {
    if (after > 0) counts.set(worker, after);
    else counts.delete(worker);
    const r = (this.#remote.get(worker) ?? 0) - before + after;
    if (r > 0) this.#remote.set(worker, r);
    else this.#remote.delete(worker);
  }
}
