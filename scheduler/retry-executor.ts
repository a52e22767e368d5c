// The one retry loop, for whole requests and P/D alike. An attempt is a step that tries one
// worker (or one prefill/decode pair) and says how it went; the executor counts attempts, keeps
// the workers each pool has tried (so that each attempt prefers another), waits between attempts
// (full-jitter backoff, retry.ts) within the request's deadline, and stops when the client leaves.
// Retries happen only before the first byte of an answer is passed on: an attempt that has
// passed bytes on reports 'answered', never 'retry'.
import { errors, type RouterError } from '../proto/errors.ts';
import type { RequestMeta } from '../proto/request-meta.ts';
import type { DispatchEvents } from './events.ts';
import type { Decision } from './pd/decider.ts';
import type { Pool } from './registry.ts';
import { backoffMs } from '../runtime/backoff.ts';
import { sleep, type RetryOptions } from './retry.ts';
import type { RetryBudget } from './retry-budget.ts';
import { RETRYABLE_STATUSES } from './upstream.ts';
import type { StreamWriter } from './stream-writer.ts';

/** How a request ended. */
export interface DispatchOutcome {
  /** The worker (or `prefill,decode`) that answered. */
  readonly worker: string | null;
  readonly status: number | null;
  readonly attempts: number;
  readonly error: RouterError | null;
  readonly decision?: Decision;
}

/** How one attempt ended. */
export type StepResult =
  /** An answer was passed on (`error`: it broke on the way); the request is done. */
  | { readonly kind: 'answered'; readonly worker: string; readonly status: number; readonly error: RouterError | null; readonly decision?: Decision }
  /** Failed before any byte was passed on, in a way another worker may not: try again. */
  | { readonly kind: 'retry'; readonly error: RouterError; readonly reason: string }
  /** Nothing can serve the request (no worker, say); this attempt called none. */
  | { readonly kind: 'fatal'; readonly error: RouterError }
  /** The client went away (or the deadline passed) during the attempt. */
  | { readonly kind: 'aborted'; readonly worker: string | null; readonly decision?: Decision };

/** The workers each pool has tried for one request. */
export class TriedWorkers {
  readonly #byPool = new Map<Pool, Set<string>>();

  of(pool: Pool): ReadonlySet<string> {
    return this.#set(pool);
  }

  add(pool: Pool, workerId: string): void {
    this.#set(pool).add(workerId);
  }

  #set(pool: Pool): Set<string> {
    let s = this.#byPool.get(pool);
    if (!s) {
      s = new Set();
      this.#byPool.set(pool, s);
    }
    return s;
  }
}

export interface AttemptContext {
  /** 1 for the first attempt. */
  readonly n: number;
  /** False on the last attempt: then a worker's retryable status is its answer, passed on. */
  readonly mayRetry: boolean;
  readonly tried: TriedWorkers;
}

export type Step = (ctx: AttemptContext) => Promise<StepResult>;

export interface RetryDeps {
  readonly retry: RetryOptions;
  /** Null: every request may use all its attempts. */
  readonly retryBudget: Pick<RetryBudget, 'request' | 'allows' | 'take'> | null;
  readonly random: () => number;
  readonly events: Pick<DispatchEvents, 'retry' | 'retryDenied'>;
}

export interface RetriedRequest {
  readonly model: string;
  readonly meta: Pick<RequestMeta, 'deadline'>;
  readonly signal: AbortSignal;
}

/** Runs `step` until it answers, cannot go on, or `maxAttempts` have failed; errors go to `out`. */
export async function runAttempts(d: RetryDeps, r: RetriedRequest, out: Pick<StreamWriter, 'error'>, step: Step): Promise<DispatchOutcome> {
  const tried = new TriedWorkers();
  const max = d.retry.maxAttempts;
  const budget = d.retryBudget;
  budget?.request();
  let lastError: RouterError | null = null;
  for (let n = 1; n <= max; n++) {
    if (r.signal.aborted) return { worker: null, status: null, attempts: n - 1, error: null };
    // With the budget spent, this attempt is the last: a worker's retryable status is then its answer.
    const spent = n < max && budget !== null && !budget.allows();
    const s = await step({ n, mayRetry: n < max && !spent, tried });
    if (s.kind === 'answered') {
      if (spent && RETRYABLE_STATUSES.has(s.status)) d.events.retryDenied(r.model, `status_${s.status}`);
      return { worker: s.worker, status: s.status, attempts: n, error: s.error, ...decisionOf(s) };
    }
    if (s.kind === 'aborted') return { worker: s.worker, status: null, attempts: n, error: null, ...decisionOf(s) };
    if (s.kind === 'fatal') return fail(out, s.error, n - 1);
    lastError = s.error;
    if (n === max) break;
    if (budget && !budget.take()) {
      d.events.retryDenied(r.model, s.reason);
      return fail(out, lastError, n);
    }
    d.events.retry(r.model, s.reason);
    const go = await backoff(d, n, r.meta, r.signal);
    if (go === 'aborted') return { worker: null, status: null, attempts: n, error: null };
    if (go === 'deadline') return fail(out, deadlineError(r.meta), n);
  }
  return fail(out, lastError ?? errors.LLMR_ERR_UPSTREAM_UNREACHABLE('no attempt was made'), max);
}

function decisionOf(s: { readonly decision?: Decision }): { decision?: Decision } {
  return s.decision ? { decision: s.decision } : {};
}

/** Answers `e` to the client: the request ends without a worker's answer. */
export function fail(out: Pick<StreamWriter, 'error'>, e: RouterError, attempts: number): DispatchOutcome {
  out.error(e);
  return { worker: null, status: e.statusCode, attempts, error: e };
}

/**
 * Waits before attempt `n + 1`. 'deadline' when the wait would pass the request's deadline,
 * 'aborted' when the client left meanwhile.
 */
async function backoff(d: RetryDeps, n: number, meta: Pick<RequestMeta, 'deadline'>, signal: AbortSignal): Promise<'go' | 'aborted' | 'deadline'> {
  const wait = backoffMs(n, d.retry, d.random);
  if (meta.deadline !== null && meta.deadline - Date.now() <= wait) return 'deadline';
  return (await sleep(wait, signal)) ? 'go' : 'aborted';
}

function deadlineError(meta: Pick<RequestMeta, 'deadline'>): RouterError {
  return errors.LLMR_ERR_DEADLINE(new Date(meta.deadline ?? Date.now()).toISOString());
}
