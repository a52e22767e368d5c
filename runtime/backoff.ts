// Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"):
// the n-th wait is uniform in [0, min(max, initial × multiplier^(n-1))]. The scheduler waits so
// between attempts on workers, the ingress between tries to find a subscribed scheduler. Pure.

export interface Backoff {
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly multiplier: number;
}

/** The longest the n-th wait may be (1 = the first). */
export function backoffCapMs(n: number, o: Backoff): number {
  return Math.min(o.maxBackoffMs, o.initialBackoffMs * o.multiplier ** Math.max(0, n - 1));
}

/** The n-th wait (1 = the first): uniform in [0, backoffCapMs(n)). */
export function backoffMs(n: number, o: Backoff, random: () => number): number {
  return random() * backoffCapMs(n, o);
}
