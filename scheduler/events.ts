// What dispatch tells the outside world as it works (metrics listen; tests may too). A no-op
// implementation is the default, so the dispatch code never checks for a listener.
import type { Decision } from './pd/decider.ts';
import type { Pool } from './registry.ts';

/** Which call to a worker this is: a whole request, or one leg of a disaggregated one. */
export type Leg = 'whole' | 'prefill' | 'decode';

export interface DispatchEvents {
  /** A worker answered (status) or failed ('error') after `seconds`. */
  upstream(workerId: string, leg: Leg, status: number | 'error', seconds: number): void;
  /** A policy picked a worker. */
  pick(pool: Pool, policy: string, workerId: string): void;
  /** A failed attempt will be retried. */
  retry(model: string, reason: string): void;
  /** A failed attempt could have been retried, but the retry budget was spent. */
  retryDenied(model: string, reason: string): void;
  /** Disaggregate or not (P/D fleets). */
  decision(model: string, decision: Decision): void;
  /** How long a P/D leg took, to its answer (prefill) or to its first byte (decode). */
  leg(leg: 'prefill' | 'decode', seconds: number): void;
  /** The worker's first body chunk, from the call's start. */
  firstChunk(model: string, seconds: number): void;
  /** Between two body chunks of a stream. */
  interChunk(model: string, seconds: number): void;
  /** Tokens a finished answer reported (or that its stream carried). */
  tokens(model: string, prompt: number, completion: number): void;
}

export const NO_EVENTS: DispatchEvents = Object.freeze({
  upstream() {},
  pick() {},
  retry() {},
  retryDenied() {},
  decision() {},
  leg() {},
  firstChunk() {},
  interChunk() {},
  tokens() {},
});
