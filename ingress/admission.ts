// Admission at the ingress: at most `maxConcurrent` requests in flight (from admission to the
// end of their answer, streams included: a stream holds GPU work until its last token), and a
// bounded queue in front. Pure: no I/O, timers through an injected clock.
//
// Order of the queue (docs/OVERLOAD.md): strict priority first (a lower number goes first, as
// vLLM's `priority` field), then round robin across flows (an API key, or a client address for
// anonymous use) within a priority, FIFO within a flow. A flood from one flow fills the queue
// with its own requests, but each turn of the round robin serves every waiting flow once, so a
// polite flow waits at most one request per other flow, not behind the whole flood.
//
// A request that cannot wait is refused at once (queue full) rather than after the timeout: a
// client told early can go elsewhere, and the fleet is not made to queue for it.
import { DrainRate } from '../runtime/drain-rate.ts';

/** How a request left the queue without a slot. */
export type Refusal = 'full' | 'timeout' | 'closed';

export interface AdmissionOptions {
  /** Requests in flight at once; 0: no limit (and no queue). */
  readonly maxConcurrent: number;
  /** Requests waiting for a slot at most; 0: refuse at once when every slot is taken. */
  readonly queueSize: number;
  /** Longest wait for a slot. */
  readonly queueTimeoutMs: number;
}

export interface AdmissionClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(t: unknown): void;
}

export const SYSTEM_ADMISSION_CLOCK: AdmissionClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

/** A granted slot: release it exactly once, when the answer has ended (later calls do nothing). */
export interface Slot {
  /** How long the request waited in the queue (0 when admitted at once). */
  readonly waitedMs: number;
  release(): void;
}

export type Admitted = { readonly ok: true; readonly slot: Slot } | { readonly ok: false; readonly why: Refusal; readonly waitedMs: number };

/** A request in the queue: its outcome, and how to take it out when its client leaves. */
export interface Queued {
  readonly result: Promise<Admitted>;
  /** The client left: out of the queue, the result is 'closed' (nothing once it has a slot). */
  leave(): void;
}

interface Waiter {
  readonly flow: string;
  readonly priority: number;
  readonly since: number;
  readonly resolve: (a: Admitted) => void;
  timer: unknown;
  done: boolean;
}

/** The waiting requests of one priority: a ring of flows, each a FIFO. */
class Band {
  readonly #flows = new Map<string, Waiter[]>();
  /** Flows in round-robin order; the head is served next. */
  readonly #ring: string[] = [];
  /** Waiters in the band. */
  size = 0;

  get empty(): boolean {
    return this.#ring.length === 0;
  }

  push(w: Waiter): void {
    let q = this.#flows.get(w.flow);
    if (!q) {
      q = [];
      this.#flows.set(w.flow, q);
      this.#ring.push(w.flow);
    }
    q.push(w);
    this.size++;
  }

  /** The head of the next flow in the ring; that flow goes to the back of the ring. */
  shift(): Waiter | null {
    const flow = this.#ring.shift();
    if (flow === undefined) return null;
    const q = this.#flows.get(flow)!;
    const w = q.shift()!;
    this.size--;
    if (q.length > 0) this.#ring.push(flow);
    else this.#flows.delete(flow);
    return w;
  }

  /** Takes out a waiter that left (bounded by the queue size, so a scan is cheap). */
  remove(w: Waiter): void {
    const q = this.#flows.get(w.flow);
    const i = q?.indexOf(w) ?? -1;
    if (!q || i < 0) return;
    q.splice(i, 1);
    this.size--;
    if (q.length > 0) return;
    this.#flows.delete(w.flow);
    this.#ring.splice(this.#ring.indexOf(w.flow), 1);
  }
}

export class Admission {
  readonly #o: AdmissionOptions;
  readonly #clock: AdmissionClock;
  /** priority → band, only while someone waits there; #order: those priorities ascending. */
  readonly #bands = new Map<number, Band>();
  #order: number[] = [];
  #inFlight = 0;
  #waiting = 0;
  /** How fast slots are released (for Retry-After). */
  readonly #drain = new DrainRate();

  constructor(o: AdmissionOptions, clock: AdmissionClock = SYSTEM_ADMISSION_CLOCK) {
    this.#o = o;
    this.#clock = clock;
  }

  get enabled(): boolean {
    return this.#o.maxConcurrent > 0;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get waiting(): number {
    return this.#waiting;
  }

  /** A slot now, a refusal now, or a place in the queue. */
  enter(flow: string, priority: number): Admitted | Queued {
    if (!this.enabled) return { ok: true, slot: this.#slot(0) };
    if (this.#inFlight < this.#o.maxConcurrent && this.#waiting === 0) {
      this.#inFlight++;
      return { ok: true, slot: this.#slot(0) };
    }
    if (this.#waiting >= this.#o.queueSize) return { ok: false, why: 'full', waitedMs: 0 };
    // Under sustained overload a queue stays full and every request in it waits nearly the whole
    // timeout. A request that the ones ahead would keep waiting past it is refused now, when the
    // client can still go elsewhere, instead of at the timeout: the queue then holds only what
    // drains in time.
    const rate = this.#drain.perS;
    if (rate > 0 && ((this.#ahead(priority) + 1) / rate) * 1000 > this.#o.queueTimeoutMs) return { ok: false, why: 'full', waitedMs: 0 };
    let w!: Waiter;
    const result = new Promise<Admitted>((resolve) => {
      w = { flow, priority, since: this.#clock.now(), resolve, timer: null, done: false };
    });
    w.timer = this.#clock.setTimeout(() => this.#leave(w, 'timeout'), this.#o.queueTimeoutMs);
    this.#band(priority).push(w);
    this.#waiting++;
    return { result, leave: () => this.#leave(w, 'closed') };
  }

  /**
   * Seconds a refused client should wait before trying again: the time the queue now in front
   * of it takes to drain at the recent release rate, at least 1 s and at most the queue timeout.
   */
  retryAfterS(): number {
    return this.#drain.retryAfterS(this.#waiting + 1, this.#o.queueTimeoutMs / 1000);
  }

  #slot(waitedMs: number): Slot {
    let released = false;
    return {
      waitedMs,
      release: () => {
        if (released || !this.enabled) return;
        released = true;
        this.#drain.note(this.#clock.now());
        this.#inFlight--;
        this.#grant();
      },
    };
  }

  #grant(): void {
    while (this.#inFlight < this.#o.maxConcurrent && this.#waiting > 0) {
      const w = this.#next();
      if (w === null) return;
      w.done = true;
      this.#waiting--;
      this.#clock.clearTimeout(w.timer);
      this.#inFlight++;
      w.resolve({ ok: true, slot: this.#slot(this.#clock.now() - w.since) });
    }
  }

  #next(): Waiter | null {
    const p = this.#order[0];
    if (p === undefined) return null;
    const b = this.#bands.get(p)!;
    const w = b.shift();
    this.#dropIfEmpty(p, b);
    return w;
  }

  #leave(w: Waiter, why: Refusal): void {
    if (w.done) return;
    w.done = true;
    this.#waiting--;
    this.#clock.clearTimeout(w.timer);
    const b = this.#bands.get(w.priority);
    if (b) {
      b.remove(w);
      this.#dropIfEmpty(w.priority, b);
    }
    w.resolve({ ok: false, why, waitedMs: this.#clock.now() - w.since });
  }

  /** Requests waiting that would be served before a newcomer of `priority` (its own band included, whatever its turn in it). */
  #ahead(priority: number): number {
    let n = 0;
    for (const p of this.#order) {
      if (p > priority) break;
      n += this.#bands.get(p)!.size;
    }
    return n;
  }

  #band(priority: number): Band {
    let b = this.#bands.get(priority);
    if (!b) {
      b = new Band();
      this.#bands.set(priority, b);
      this.#order = [...this.#bands.keys()].sort((x, y) => x - y);
    }
    return b;
  }

  /** Only priorities with someone waiting are kept: whatever numbers clients send, the map stays small. */
  #dropIfEmpty(priority: number, b: Band): void {
    if (!b.empty) return;
    this.#bands.delete(priority);
    this.#order = this.#order.filter((p) => p !== priority);
  }
}
