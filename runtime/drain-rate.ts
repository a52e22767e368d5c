// How fast a queue drains: departures per second, smoothed exponentially with a time constant of
// about a second. What a Retry-After is computed from: the time the queue now ahead of a refused
// client would take to drain at the recent rate. Pure: time comes from the caller.

export class DrainRate {
  #perS = 0;
  #last = 0;

  /** Departures per second lately; 0 before the first. */
  get perS(): number {
    return this.#perS;
  }

  /** One departure at `now` (ms). */
  note(now: number): void {
    const gap = Math.max(1, now - this.#last);
    this.#last = now;
    const a = 1 - Math.exp(-gap / 1000);
    this.#perS = (1 - a) * this.#perS + a * (1000 / gap);
  }

  /** Seconds for `ahead` requests to leave at the recent rate, within [1, capS]. */
  retryAfterS(ahead: number, capS: number): number {
    const cap = Math.max(1, Math.ceil(capS));
    if (this.#perS <= 0) return 1;
    return Math.min(cap, Math.max(1, Math.ceil(ahead / this.#perS)));
  }
}
