// A circuit breaker per worker. Consecutive failures (5xx, connection errors, timeouts, a stream
// cut mid-answer) open it and the worker gets no traffic; after a cooldown it half-opens and lets
// one trial request through at a time; enough successes close it, a failure reopens it. Client
// errors (4xx) count as successes: a bad request must not eject a healthy worker (the vLLM
// Router's PR #60 lesson). Pure state, clock injected.

export const BREAKER_STATES = ['closed', 'open', 'half_open'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  readonly failureThreshold: number;
  /** Consecutive successes in half-open that close it. */
  readonly successThreshold: number;
  /** Time open before a trial request is let through. */
  readonly cooldownMs: number;
}

/**
 * Defaults: faster than the vLLM Router's 10 / 3 / 60 s, because heartbeats already take dead or
 * unhealthy workers out within a second; the breaker is for workers that pass /health yet fail
 * requests, and a 10 s cooldown with single trials finds their recovery sooner without piling
 * traffic on them.
 */
export const BREAKER_DEFAULTS: BreakerOptions = Object.freeze({ failureThreshold: 5, successThreshold: 2, cooldownMs: 10_000 });

interface Breaker {
  state: BreakerState;
  failures: number;
  successes: number;
  openedAt: number;
  trialInFlight: boolean;
}

export type TransitionListener = (workerId: string, from: BreakerState, to: BreakerState) => void;

export class CircuitBreakers {
  readonly options: BreakerOptions;
  readonly #now: () => number;
  readonly #breakers = new Map<string, Breaker>();
  /** Workers whose breaker is open or half-open: the only ones that may keep a request out. */
  readonly #notClosed = new Set<string>();
  onTransition: TransitionListener | undefined;

  constructor(options: BreakerOptions, now: () => number) {
    if (!(options.failureThreshold >= 1 && options.successThreshold >= 1 && options.cooldownMs >= 0)) throw new RangeError('invalid circuit breaker options');
    this.options = options;
    this.#now = now;
  }

  /** The state now (an open breaker whose cooldown passed reads as half-open). */
  state(workerId: string): BreakerState {
    const b = this.#breakers.get(workerId);
    if (!b) return 'closed';
    this.#tick(workerId, b);
    return b.state;
  }

  /** May a request go to this worker now? (Read-only: use {@link acquire} when sending one.) */
  allows(workerId: string): boolean {
    const b = this.#breakers.get(workerId);
    if (!b) return true;
    this.#tick(workerId, b);
    return b.state === 'closed' || (b.state === 'half_open' && !b.trialInFlight);
  }

  /** Takes the worker's slot for one request: the trial slot when half-open. False when not allowed. */
  acquire(workerId: string): boolean {
    if (!this.allows(workerId)) return false;
    const b = this.#breakers.get(workerId);
    if (b?.state === 'half_open') b.trialInFlight = true;
    return true;
  }

  success(workerId: string): void {
    const b = this.#breakers.get(workerId);
    if (!b) return;
    b.trialInFlight = false;
    b.failures = 0;
    if (b.state !== 'half_open') return;
    b.successes++;
    if (b.successes >= this.options.successThreshold) this.#move(workerId, b, 'closed');
  }

  failure(workerId: string): void {
    let b = this.#breakers.get(workerId);
    if (!b) {
      b = { state: 'closed', failures: 0, successes: 0, openedAt: 0, trialInFlight: false };
      this.#breakers.set(workerId, b);
    }
    b.trialInFlight = false;
    b.successes = 0;
    b.failures++;
    if (b.state === 'half_open' || (b.state === 'closed' && b.failures >= this.options.failureThreshold)) {
      b.openedAt = this.#now();
      this.#move(workerId, b, 'open');
    }
  }

  /** A request that took the trial slot ended without an outcome (cancelled by the client). */
  release(workerId: string): void {
    const b = this.#breakers.get(workerId);
    if (b) b.trialInFlight = false;
  }

  /** Milliseconds until the soonest open breaker among `ids` half-opens (for Retry-After). */
  msUntilTrial(ids: readonly string[]): number | null {
    let best: number | null = null;
    for (const id of ids) {
      const b = this.#breakers.get(id);
      if (b?.state !== 'open') continue;
      const left = Math.max(0, b.openedAt + this.options.cooldownMs - this.#now());
      if (best === null || left < best) best = left;
    }
    return best;
  }

  forget(workerId: string): void {
    this.#breakers.delete(workerId);
    this.#notClosed.delete(workerId);
  }

  /** Workers whose breaker is not closed (as last seen: an open one may have half-opened since). Every other worker is allowed. */
  notClosed(): ReadonlySet<string> {
    return this.#notClosed;
  }

  /** workerId → state, for breakers that are not closed. */
  snapshot(): Map<string, BreakerState> {
    const out = new Map<string, BreakerState>();
    for (const [id, b] of this.#breakers) {
      this.#tick(id, b);
      if (b.state !== 'closed') out.set(id, b.state);
    }
    return out;
  }

  #tick(id: string, b: Breaker): void {
    if (b.state === 'open' && this.#now() - b.openedAt >= this.options.cooldownMs) this.#move(id, b, 'half_open');
  }

  #move(id: string, b: Breaker, to: BreakerState): void {
    const from = b.state;
    if (from === to) return;
    b.state = to;
    if (to === 'closed') this.#notClosed.delete(id);
    else this.#notClosed.add(id);
    b.successes = 0;
    if (to === 'closed') b.failures = 0;
    this.onTransition?.(id, from, to);
  }
}
