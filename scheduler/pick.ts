// Choosing a worker for one attempt: the pool's candidates whose circuit breaker lets a request
// through, the untried ones first, by the pool's policy; and the error when there is none.
import { errors, type RouterError } from '../proto/errors.ts';
import type { DispatchDeps } from './dispatch-deps.ts';
import type { PrefixIndex } from './prefix-index.ts';
import { CHARS_PER_TOKEN } from '../proto/prompt.ts';
import type { Pool, WorkerView } from './registry.ts';
import type { PreparedRequest } from './request.ts';

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
  return tokensInBlocks(prefix, prefix.match(workerId, chain));
}

/** Prompt tokens in `blocks` leading blocks of the prefix index (estimated from characters). */
function tokensInBlocks(prefix: PrefixIndex, blocks: number): number {
  return Math.floor((blocks * prefix.options.blockChars) / CHARS_PER_TOKEN);
}

/** What a pick reads and records. */
export type PickDeps = Pick<DispatchDeps, 'registry' | 'candidates' | 'breakers' | 'policies' | 'prefix' | 'events' | 'random'>;

/**
 * Picks from `pool`'s candidates whose circuit breaker lets a request through, preferring workers
 * not in `exclude` (tried already). Undefined when there are none.
 */
export function pickWorker(d: PickDeps, r: PreparedRequest, pool: Pool, exclude: ReadonlySet<string>, extraFilter?: (w: WorkerView) => boolean): Picked | undefined {
  // The same list from pick to pick while the fleet and its breakers stay the same: no copy on the common path.
  let all = d.candidates.allowed(d.registry.candidates(r.model, pool), d.breakers);
  if (extraFilter) all = all.filter((c) => extraFilter(c.worker));
  if (all.length === 0) return undefined;
  const fresh = exclude.size === 0 ? all : all.filter((c) => !exclude.has(c.worker.id));
  const list = fresh.length > 0 ? fresh : all;
  const policy = d.policies.get(r.model, pool);
  // Policies that read the prefix index see it, and what they pick is recorded in it at once
  // (as llm-d records a routing decision before the request runs). The chain is matched against
  // every worker once, not once per candidate the policy asks about.
  const chain = policy.consumes.includes('prefix') ? r.prefixChain() : null;
  const matched = chain && chain.length > 0 ? d.prefix.matcher(chain, list) : undefined;
  const prefixMatch = matched && chain ? (id: string, index?: number) => matched(id, index) / chain.length : undefined;
  const promptTokens = policy.consumes.includes('promptTokens') ? r.promptTokens() : undefined;
  const w = policy.pick(list, { model: r.model, routingKey: r.meta.routingKey, prefixMatch, promptTokens }, { random: d.random })?.worker;
  if (!w) return undefined;
  d.events.pick(pool, policy.type, w.id);
  let cachedTokens: number | null = null;
  if (matched && chain) {
    // cachedTokensOn, from the match already made.
    cachedTokens = tokensInBlocks(d.prefix, matched(w.id));
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
