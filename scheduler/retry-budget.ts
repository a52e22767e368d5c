// A retry budget (as Envoy's): over a rolling window, retries may be at most `ratio` of the
// requests that started in it, or `minRetries`, whichever is more. Retries are what turn a
// brownout into an outage: when every worker is failing, each request tried 5 times is 5 times
// the load on a fleet that is already down. With a budget, a burst of errors costs at most
// (1 + ratio) × the offered load, while the odd failure of a healthy fleet is still retried.
// Pure: time comes from the caller.

export interface RetryBudgetOptions {
  /** Retries allowed per request started in the window (Envoy's default: 20 %). */
  readonly ratio: number;
  /** Retries allowed in any window however few requests came (so that a quiet replica still retries). */
  readonly minRetries: number;
  /** The rolling window, in ms (kept as 10 buckets). */
  readonly windowMs: number;
}

export const RETRY_BUDGET_DEFAULTS: RetryBudgetOptions = Object.freeze({ ratio: 0.2, minRetries: 10, windowMs: 10_000 });

const BUCKETS = 10;

export class RetryBudget {
  readonly #o: RetryBudgetOptions;
  readonly #now: () => number;
  readonly #bucketMs: number;
  readonly #requests = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);
  /** The bucket number (time ÷ bucket length) the arrays were last brought up to. */
  #at = Number.NEGATIVE_INFINITY;
  #requestSum = 0;
  #retrySum = 0;

  constructor(o: RetryBudgetOptions, now: () => number = () => performance.now()) {
    this.#o = o;
    this.#now = now;
    this.#bucketMs = o.windowMs / BUCKETS;
  }

  /** A request started. */
  request(): void {
    this.#advance();
    const k = this.#at % BUCKETS;
    this.#requests[k] = this.#requests[k]! + 1;
    this.#requestSum += 1;
  }

  /** Whether one more retry fits the budget now. */
  allows(): boolean {
    this.#advance();
    return this.#retrySum + 1 <= Math.max(this.#o.minRetries, this.#o.ratio * this.#requestSum);
  }

  /** Takes a retry from the budget; false (and nothing taken) when it does not fit. */
  take(): boolean {
    if (!this.allows()) return false;
    const k = this.#at % BUCKETS;
    this.#retries[k] = this.#retries[k]! + 1;
    this.#retrySum += 1;
    return true;
  }

  /** Requests and retries counted in the window now. */
  get window(): { readonly requests: number; readonly retries: number } {
    this.#advance();
    return { requests: this.#requestSum, retries: this.#retrySum };
  }

  /** Empties the buckets that have fallen out of the window since the last call. */
  #advance(): void {
    const b = Math.floor(this.#now() / this.#bucketMs);
    if (b === this.#at) return;
    if (this.#at === Number.NEGATIVE_INFINITY) {
      this.#at = b;
      return;
    }
    const stale = Math.min(BUCKETS, b - this.#at);
    for (let i = 1; i <= stale; i++) {
      const k = (this.#at + i) % BUCKETS;
      this.#requestSum -= this.#requests[k]!;
      this.#retrySum -= this.#retries[k]!;
      this.#requests[k] = 0;
      this.#retries[k] = 0;
    }
    this.#at = b;
  }
}
