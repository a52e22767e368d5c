// Choosing a worker for one attempt: the pool's candidates whose circuit breaker lets a request
// through, the untried ones first, by the pool's policy; and the error when there is none.
import { errors, type RouterError } from '../proto/errors.ts';
import type { DispatchDeps } from './dispatch-deps.ts';
import type { InflightTracker } from './inflight.ts';
import type { Candidate } from './policies/types.ts';
import type { PrefixIndex } from './prefix-index.ts';
import { CHARS_PER_TOKEN } from './prompt.ts';
import type { Pool, WorkerView } from './registry.ts';
import type { PreparedRequest } from './request.ts';

export function toCandidates(workers: readonly WorkerView[], inflight: InflightTracker): Candidate[] {
  return workers.map((worker) => ({ worker, inflight: inflight.total(worker.id), tokens: inflight.tokens(worker.id) }));
}

export interface Picked {
  readonly worker: WorkerView;
  /**
   * Prompt tokens the prefix index said the worker had cached when it was picked (null when the
   * policy did not read the index). Taken before the pick is recorded in the index, which would
   * otherwise report the whole prompt as cached.
   */
  readonly cachedTokens: number | null;
}

/** Prompt tokens the prefix index believes `workerId` has cached for `chain`. */
export function cachedTokensOn(prefix: PrefixIndex, workerId: string, chain: readonly bigint[]): number {
  return Math.floor(prefix.matchedChars(workerId, chain) / CHARS_PER_TOKEN);
}

/**
 * Picks from `pool`'s candidates whose circuit breaker lets a request through, preferring workers
 * not in `exclude` (tried already). Undefined when there are none.
 */
export function pickWorker(d: DispatchDeps, r: PreparedRequest, pool: Pool, exclude: ReadonlySet<string>, extraFilter?: (w: WorkerView) => boolean): Picked | undefined {
  let all = d.registry.candidates(r.model, pool).filter((w) => d.breakers.allows(w.id));
  if (extraFilter) all = all.filter(extraFilter);
  if (all.length === 0) return undefined;
  const fresh = all.filter((w) => !exclude.has(w.id));
  const list = fresh.length > 0 ? fresh : all;
  const policy = d.policies.get(r.model, pool);
  // Policies that read the prefix index see it, and what they pick is recorded in it at once
  // (as llm-d records a routing decision before the request runs).
  const chain = policy.consumes.includes('prefix') ? r.prefixChain() : null;
  const prefixMatch = chain && chain.length > 0 ? (id: string) => d.prefix.match(id, chain) / chain.length : undefined;
  const promptTokens = policy.consumes.includes('promptTokens') ? r.promptTokens() : undefined;
  const w = policy.pick(toCandidates(list, d.inflight), { model: r.model, routingKey: r.meta.routingKey, prefixMatch, promptTokens }, { random: d.random })?.worker;
  if (!w) return undefined;
  d.events.pick(pool, policy.type, w.id);
  let cachedTokens: number | null = null;
  if (chain && chain.length > 0) {
    cachedTokens = cachedTokensOn(d.prefix, w.id, chain);
    d.prefix.insert(w.id, chain);
  }
  return { worker: w, cachedTokens };
}

/**
 * 404 when no worker ever served the model, else 503 with Retry-After (the time until an open
 * circuit breaker lets a trial through, when that is what keeps the workers out).
 */
export function noWorker(d: DispatchDeps, model: string): RouterError {
  if (!d.registry.knows(model)) {
    const e = errors.LLMR_ERR_MODEL_NOT_FOUND(model);
    e.param = 'model';
    return e;
  }
  const e = errors.LLMR_ERR_NO_WORKER(model);
  const trialMs = d.breakers.msUntilTrial(d.registry.candidates(model, 'whole').map((w) => w.id));
  e.retryAfterS = trialMs === null ? d.retryAfterS : Math.max(1, Math.ceil(trialMs / 1000));
  return e;
}
