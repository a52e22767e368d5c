// When a request that failed before anything reached its client goes back on the bus. The body is
// still in hand then, so a failure that was the router's own (its scheduler died, the bus dropped)
// need not be the client's: the request is resubmitted, to another replica once the bus is up.
// NATS's "no responders" (no scheduler subscribed at that instant, as right after a reconnect) is
// waited out with jittered, growing pauses until the accept timeout says there is no scheduler.
// Pure: the clock and the randomness come in, so every rule is testable without sockets.
import type { RouterError } from '../proto/errors.ts';
import { backoffMs, type Backoff } from '../runtime/backoff.ts';

export const RESUBMIT_LIMITS = Object.freeze({
  /** Resubmissions after router failures, per request. */
  maxResubmits: 2,
  /** "No responders" pauses: full jitter up to 50, 100, 200, 400, then 500 ms. */
  wait: Object.freeze({ initialBackoffMs: 50, maxBackoffMs: 500, multiplier: 2 } satisfies Backoff),
});

export interface ResubmitClock {
  /** Monotonic milliseconds (performance.now()): the accept timeout is measured on it. */
  mono(): number;
  /** Wall-clock milliseconds (Date.now()): the request's deadline is one. */
  wall(): number;
  /** Uniform in [0, 1). */
  random(): number;
}

export const SYSTEM_CLOCK: ResubmitClock = Object.freeze({ mono: () => performance.now(), wall: () => Date.now(), random: Math.random });

export type Resubmission =
  /** Answer the client with the failure. */
  | { readonly kind: 'fail' }
  /** The scheduler was lost: put the request back on the bus now (the `count`-th time). */
  | { readonly kind: 'resubmit'; readonly count: number }
  /** No scheduler subscribed: try again after `ms` (the `count`-th wait), if `acceptOpen()` still holds then. */
  | { readonly kind: 'wait'; readonly ms: number; readonly count: number };

/** Router failures a fresh submission may cure; anything else (the worker's answer, a timeout) is final. */
const ROUTER_FAILURES: ReadonlySet<string> = new Set(['LLMR_ERR_STREAM_BROKEN', 'LLMR_ERR_BUS_UNAVAILABLE']);

export class ResubmitPolicy {
  readonly #clock: ResubmitClock;
  readonly #acceptBy: number;
  /** Past this (wall clock) a resubmission would leave the next scheduler less than an accept timeout. */
  readonly #resubmitBy: number;
  #resubmits = 0;
  #waits = 0;

  /** `deadline`: the request's wall-clock deadline. The accept timeout counts from now. */
  constructor(acceptTimeoutMs: number, deadline: number, clock: ResubmitClock = SYSTEM_CLOCK) {
    this.#clock = clock;
    this.#acceptBy = clock.mono() + acceptTimeoutMs;
    this.#resubmitBy = deadline - acceptTimeoutMs;
  }

  /** Whether the accept timeout still allows another try (asked again after a wait). */
  acceptOpen(): boolean {
    return this.#clock.mono() < this.#acceptBy;
  }

  /**
   * What to do about a stream failure before the response's head. `noResponders`: NATS said no
   * scheduler was subscribed (see isNoResponders in stream-client.ts).
   */
  next(e: RouterError, noResponders: boolean): Resubmission {
    if (noResponders) {
      if (!this.acceptOpen()) return { kind: 'fail' };
      this.#waits++;
      const jitter = backoffMs(this.#waits, RESUBMIT_LIMITS.wait, () => this.#clock.random());
      const ms = Math.max(0, Math.min(this.#acceptBy - this.#clock.mono(), jitter));
      return { kind: 'wait', ms, count: this.#waits };
    }
    if (!ROUTER_FAILURES.has(e.code) || this.#resubmits >= RESUBMIT_LIMITS.maxResubmits || this.#clock.wall() >= this.#resubmitBy) return { kind: 'fail' };
    this.#resubmits++;
    return { kind: 'resubmit', count: this.#resubmits };
  }
}
