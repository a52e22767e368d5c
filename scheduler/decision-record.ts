// The scheduler's audit record of one request (proto/audit.ts `decision`): what dispatch did for
// it, collected from the events dispatch emits anyway (picks, calls, retries, the P/D decision)
// by a recorder that passes each on to the metrics. Made only for audited requests.
import { AUDIT_VERSION, type DecisionRecord } from '../proto/audit.ts';
import type { DispatchEvents, Leg } from './events.ts';
import type { Decision } from './pd/decider.ts';
import type { Pool } from './registry.ts';

const MAX_ITEMS = 64;

export class DecisionRecorder implements DispatchEvents {
  readonly #base: DispatchEvents;
  readonly #picks: { pool: string; worker: string }[] = [];
  readonly #attempts: { n: number; leg: string; worker: string; status: number | null; ms: number }[] = [];
  readonly #retries: { reason: string }[] = [];
  #policy = '';
  #pd: Decision | null = null;

  constructor(base: DispatchEvents) {
    this.#base = base;
  }

  upstream(workerId: string, leg: Leg, status: number | 'error', seconds: number): void {
    this.#base.upstream(workerId, leg, status, seconds);
    if (this.#attempts.length < MAX_ITEMS) this.#attempts.push({ n: this.#attempts.length + 1, leg, worker: workerId, status: status === 'error' ? null : status, ms: seconds * 1000 });
  }

  pick(pool: Pool, policy: string, workerId: string): void {
    this.#base.pick(pool, policy, workerId);
    if (!this.#policy) this.#policy = policy;
    if (this.#picks.length < MAX_ITEMS) this.#picks.push({ pool, worker: workerId });
  }

  retry(model: string, reason: string): void {
    this.#base.retry(model, reason);
    if (this.#retries.length < MAX_ITEMS) this.#retries.push({ reason });
  }

  retryDenied(model: string, reason: string): void {
    this.#base.retryDenied(model, reason);
    if (this.#retries.length < MAX_ITEMS) this.#retries.push({ reason: `denied: ${reason}` });
  }

  decision(model: string, decision: Decision): void {
    this.#base.decision(model, decision);
    this.#pd = decision;
  }

  leg(leg: 'prefill' | 'decode', seconds: number): void {
    this.#base.leg(leg, seconds);
  }

  firstChunk(model: string, seconds: number): void {
    this.#base.firstChunk(model, seconds);
  }

  interChunk(model: string, seconds: number): void {
    this.#base.interChunk(model, seconds);
  }

  tokens(model: string, prompt: number, completion: number): void {
    this.#base.tokens(model, prompt, completion);
  }

  record(r: {
    readonly id: string;
    readonly requestId: string;
    readonly region: string;
    readonly scheduler: string;
    readonly model: string;
    readonly candidates: number;
    readonly heldMs: number;
    readonly outcome: string;
    readonly worker: string | null;
    readonly at: number;
  }): DecisionRecord {
    return {
      v: AUDIT_VERSION,
      phase: 'decision',
      id: r.id,
      requestId: r.requestId,
      at: r.at,
      region: r.region,
      scheduler: r.scheduler,
      model: r.model,
      policy: this.#policy || 'none',
      candidates: r.candidates,
      picks: this.#picks,
      attempts: this.#attempts,
      retries: this.#retries,
      pd: this.#pd,
      heldMs: r.heldMs,
      outcome: r.outcome,
      worker: r.worker,
    };
  }
}
