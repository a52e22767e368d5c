// Time for the simulated engine: the wall clock in a running simulator, a virtual clock in unit
// tests and calibration (which then run thousands of simulated seconds in milliseconds and assert
// on simulated time, never on how long a test took).
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Runs `fn` once `ms` have passed; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  after(ms, fn) {
    // Unref'd: the servers keep a simulator alive, and a stopped one must not linger on a lease timer.
    const t = setTimeout(fn, Math.max(0, ms)).unref();
    return () => clearTimeout(t);
  },
};

/** A discrete-event clock: time only moves when {@link VirtualClock.run} fires the next timer. */
export class VirtualClock implements Clock {
  #now = 0;
  #seq = 0;
  /** Binary min-heap ordered by (at, seq), so equal-time timers fire in the order they were set. */
  #heap: Timer[] = [];

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): () => void {
    const t: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, live: true };
    this.#push(t);
    return () => {
      t.live = false;
    };
  }

  /** Fires timers in time order until none are left, or until `until` (ms) is reached. */
  run(until = Number.POSITIVE_INFINITY): void {
    for (;;) {
      const t = this.#heap[0];
      if (!t || t.at > until) break;
      this.#pop();
      if (!t.live) continue;
      this.#now = Math.max(this.#now, t.at);
      t.fn();
    }
    if (Number.isFinite(until)) this.#now = Math.max(this.#now, until);
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (!last || h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  live: boolean;
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
