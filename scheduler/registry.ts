// The scheduler's view of the fleet, fed by decoded heartbeats. Pure state with an injected
// clock: a worker is dropped after `missedBeats` of its own intervals without a heartbeat
// (liveness never depends on JetStream KV expiry, which nats-server 2.9 does not announce), and
// only `ready` workers are candidates for new work. A worker id is bound to the agent that first
// announced it and to its URL for as long as it lives: a heartbeat that names a live worker with
// another agent or another URL is refused ('conflict'), so that one agent (or a forger on the
// bus) cannot take over another's worker and receive its users' prompts.
import type { ConnectorKind, Heartbeat, Role, WorkerState } from '../proto/heartbeat.ts';

export interface WorkerView {
  readonly id: string;
  /** The agent that speaks for it (bound while the worker lives). */
  readonly agent: string;
  readonly url: string;
  readonly region: string;
  readonly models: readonly string[];
  readonly role: Role;
  readonly connector: { readonly kind: ConnectorKind; readonly zmqAddress?: string | undefined };
  readonly state: WorkerState;
  readonly load: { readonly running: number; readonly waiting: number; readonly kvUsage: number };
  readonly kv: { readonly blockSize: number; readonly numBlocks: number };
  readonly intervalMs: number;
  readonly lastSeen: number;
  readonly seq: number;
  readonly sentAt: number;
}

/** Which workers a request may use: a whole request, or one leg of a P/D pair. */
export type Pool = 'whole' | 'prefill' | 'decode';

export type UpsertResult = 'added' | 'updated' | 'stale' | 'conflict';

/** Told after a heartbeat updated a worker's view in place, with its load before. */
export type LoadListener = (view: WorkerView, before: WorkerView['load']) => void;

export interface RegistryOptions {
  readonly now: () => number;
  readonly missedBeats?: number;
  /** How long a model stays known after its last worker left (404 vs 503). Default 10 minutes. */
  readonly modelMemoryMs?: number;
}

export class Registry {
  readonly #now: () => number;
  readonly #missedBeats: number;
  readonly #modelMemoryMs: number;
  /** model → when a worker last advertised it. */
  readonly #seenModels = new Map<string, number>();
  /** Views are updated in place, so cached candidate lists always read current loads. */
  readonly #workers = new Map<string, Mutable<WorkerView>>();
  /** Bumped when the set of candidates may have changed (join, leave, state, models, role); caches key on it. */
  #version = 0;
  #candidates = new Map<string, { version: number; list: readonly WorkerView[] }>();
  #disaggregated = new Map<string, { version: number; value: boolean }>();
  /** Workers an operator drained through the fleet API: no new work, whatever their heartbeats say. */
  readonly #adminDrained = new Set<string>();
  readonly #loadListeners = new Set<LoadListener>();

  constructor(o: RegistryOptions) {
    this.#now = o.now;
    this.#missedBeats = o.missedBeats ?? 3;
    this.#modelMemoryMs = o.modelMemoryMs ?? 600_000;
  }

  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#workers.size;
  }

  get(id: string): WorkerView | undefined {
    return this.#workers.get(id);
  }

  all(): WorkerView[] {
    return [...this.#workers.values()];
  }

  upsert(hb: Heartbeat): UpsertResult {
    const prev = this.#workers.get(hb.id);
    const url = hb.url.replace(/\/+$/, '');
    if (prev && (prev.agent !== hb.agent || prev.url !== url)) return 'conflict';
    // A restarted agent starts its sequence again, so order by send time, then sequence.
    if (prev && (hb.sentAt < prev.sentAt || (hb.sentAt === prev.sentAt && hb.seq <= prev.seq))) return 'stale';
    const view: Mutable<WorkerView> = {
      id: hb.id,
      agent: hb.agent,
      url,
      region: hb.region,
      models: hb.models,
      role: hb.role,
      connector: { kind: hb.connector.kind, zmqAddress: hb.connector.zmqAddress },
      state: hb.state,
      load: hb.load,
      kv: hb.kv,
      intervalMs: hb.intervalMs,
      lastSeen: this.#now(),
      seq: hb.seq,
      sentAt: hb.sentAt,
    };
    if (!prev) {
      this.#workers.set(hb.id, view);
      this.#version++;
      return 'added';
    }
    if (prev.state !== view.state || prev.role !== view.role || !sameList(prev.models, view.models)) this.#version++;
    const before = prev.load;
    Object.assign(prev, view);
    for (const f of this.#loadListeners) f(prev, before);
    return 'updated';
  }

  /**
   * Calls `fn` after every heartbeat that updates a worker's view in place (the only way a view's
   * load changes), for whoever keeps sums of loads; returns what stops it.
   */
  watchLoads(fn: LoadListener): () => void {
    this.#loadListeners.add(fn);
    return () => this.#loadListeners.delete(fn);
  }

  remove(id: string): boolean {
    const w = this.#workers.get(id);
    if (w) this.#remember(w);
    const had = this.#workers.delete(id);
    if (had) this.#version++;
    return had;
  }

  /** Drains (or undrains) a worker by operator decision. */
  setAdminDrained(id: string, drained: boolean): void {
    const changed = drained ? !this.#adminDrained.has(id) : this.#adminDrained.has(id);
    if (drained) this.#adminDrained.add(id);
    else this.#adminDrained.delete(id);
    if (changed) this.#version++;
  }

  isAdminDrained(id: string): boolean {
    return this.#adminDrained.has(id);
  }

  /** Counts every worker as just heard from (after an outage of our own, not theirs). */
  touchAll(): void {
    const now = this.#now();
    for (const w of this.#workers.values()) w.lastSeen = now;
  }

  /** Drops workers whose heartbeats stopped; returns their ids. */
  expire(): string[] {
    const now = this.#now();
    const gone: string[] = [];
    for (const w of this.#workers.values()) {
      if (now - w.lastSeen > w.intervalMs * this.#missedBeats) gone.push(w.id);
    }
    for (const id of gone) {
      this.#remember(this.#workers.get(id)!);
      this.#workers.delete(id);
    }
    if (gone.length) this.#version++;
    return gone;
  }

  /**
   * Whether any worker (in any state) advertises `model`, or one did recently: unknown models are
   * 404, known but unavailable ones 503 (a fleet restarting must not tell clients their model
   * does not exist).
   */
  knows(model: string): boolean {
    for (const w of this.#workers.values()) if (w.models.includes(model)) return true;
    const seen = this.#seenModels.get(model);
    if (seen === undefined) return false;
    if (this.#now() - seen <= this.#modelMemoryMs) return true;
    this.#seenModels.delete(model);
    return false;
  }

  /**
   * Ready workers for `model` in `pool`: `prefill` and `decode` take workers of that role or
   * `both`; `whole` takes `both` and `decode` workers (a decode worker serves a request whole when
   * P/D is not worth it), and prefill-only workers only when nothing else serves the model.
   */
  candidates(model: string, pool: Pool): readonly WorkerView[] {
    const key = `${pool}\u0000${model}`;
    const cached = this.#candidates.get(key);
    if (cached && cached.version === this.#version) return cached.list;
    const ready = [...this.#workers.values()].filter((w) => w.state === 'ready' && !this.#adminDrained.has(w.id) && w.models.includes(model));
    let list: WorkerView[];
    if (pool === 'prefill') list = ready.filter((w) => w.role !== 'decode');
    else if (pool === 'decode') list = ready.filter((w) => w.role !== 'prefill');
    else {
      list = ready.filter((w) => w.role !== 'prefill');
      if (list.length === 0) list = ready;
    }
    list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    // Only lists for served models are kept: clients can name any model, the cache must stay bounded.
    if (list.length > 0) this.#candidates.set(key, { version: this.#version, list });
    return list;
  }

  #remember(w: WorkerView): void {
    const now = this.#now();
    for (const m of w.models) this.#seenModels.set(m, now);
  }

  /** Whether the model's fleet is disaggregated: some worker for it has the prefill or decode role. */
  hasDisaggregatedRoles(model: string): boolean {
    const cached = this.#disaggregated.get(model);
    if (cached && cached.version === this.#version) return cached.value;
    let value = false;
    for (const w of this.#workers.values()) if (w.role !== 'both' && w.models.includes(model)) value = true;
    if (this.knows(model)) this.#disaggregated.set(model, { version: this.#version, value });
    return value;
  }

  /** Models served by at least one ready worker, with how many. */
  models(): Map<string, number> {
    const out = new Map<string, number>();
    for (const w of this.#workers.values()) {
      if (w.state !== 'ready') continue;
      for (const m of w.models) out.set(m, (out.get(m) ?? 0) + 1);
    }
    return out;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
