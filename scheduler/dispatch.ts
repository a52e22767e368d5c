// Serves one accepted request. In a fleet of `both` workers: pick a worker by policy, call it,
// relay its answer. In a P/D fleet (workers with prefill or decode roles): see pd/orchestrate.ts.
// Retries (a different worker each attempt, backoff with full jitter, within the deadline)
// happen only before the first byte of an answer is passed on.
import type { Logger } from 'pino';
import { errors, type RouterError } from '../proto/errors.ts';
import type { RequestMeta } from '../proto/request-meta.ts';
import { attemptCall, backoff, deadlineError, relay, type CallDeps } from './attempt.ts';
import type { InflightTracker } from './inflight.ts';
import type { PdConfig } from './pd/config.ts';
import type { Decision } from './pd/decider.ts';
import { dispatchPd } from './pd/orchestrate.ts';
import type { PolicySet } from './policy-set.ts';
import type { Candidate } from './policies/types.ts';
import type { PrefixIndex } from './prefix-index.ts';
import { CHARS_PER_TOKEN, promptText, promptTokens } from './prompt.ts';
import type { Pool, Registry, WorkerView } from './registry.ts';
import type { StreamWriter } from './stream-writer.ts';

export interface DispatchDeps extends CallDeps {
  readonly registry: Registry;
  readonly policies: PolicySet;
  readonly prefix: PrefixIndex;
  readonly pd: PdConfig;
  readonly log: Logger;
  /** Seconds a client should wait before retrying when no worker is available. */
  readonly retryAfterS: number;
}

export interface DispatchRequest {
  readonly model: string;
  readonly meta: RequestMeta;
  readonly body: Uint8Array;
  /** Aborted when the client cancels (or the deadline passes). */
  readonly signal: AbortSignal;
  /**
   * The id workers see as X-Request-Id: the router's own, unique per submission. The client's
   * X-Request-Id stays in `meta` for logs and the answer's header; sent to a worker it could
   * collide with another client's, and P2P-NCCL parses KV peer addresses out of it.
   */
  readonly workerRequestId: string;
}

/** A request with its prompt's features, each computed at most once and only when something reads it. */
export interface PreparedRequest extends DispatchRequest {
  /** The body as JSON; null when it is not JSON. Parsed once for everything that reads it. */
  readonly json: () => Record<string, unknown> | null;
  /** The prompt's block-hash chain for the prefix index. */
  readonly prefixChain: () => readonly bigint[];
  /** The prompt's length in tokens, from the parsed body. */
  readonly promptTokens: () => number;
  /** The prompt's length if the body was parsed already, else an estimate from its size (no parse). */
  readonly promptTokensEstimate: () => number;
}

function parseBody(body: Uint8Array): Record<string, unknown> | null {
  try {
    return JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export function prepare(prefix: PrefixIndex, r: DispatchRequest): PreparedRequest {
  let parsed: { body: Record<string, unknown> | null; text: string; tokens: number } | null = null;
  let chain: readonly bigint[] | null = null;
  const parse = (): { body: Record<string, unknown> | null; text: string; tokens: number } => {
    if (parsed === null) {
      const body = parseBody(r.body);
      const text = promptText(body ?? {}); // not JSON: no prompt, no prefix
      parsed = { body, text, tokens: promptTokens(body ?? {}, text) };
    }
    return parsed;
  };
  return {
    ...r,
    json: () => parse().body,
    prefixChain: () => (chain ??= prefix.chain(parse().text)),
    promptTokens: () => parse().tokens,
    // The body is mostly its prompt: its size is a fair estimate when nothing has parsed it.
    promptTokensEstimate: () => parsed?.tokens ?? Math.ceil(r.body.length / CHARS_PER_TOKEN),
  };
}

export interface DispatchOutcome {
  /** The worker (or `prefill,decode`) that answered. */
  readonly worker: string | null;
  readonly status: number | null;
  readonly attempts: number;
  readonly error: RouterError | null;
  readonly decision?: Decision;
}

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

/**
 * Picks from `pool`'s candidates whose circuit breaker lets a request through, preferring workers
 * not tried yet. Undefined when there are none.
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
    cachedTokens = Math.floor(d.prefix.matchedChars(w.id, chain) / CHARS_PER_TOKEN);
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

export function fail(out: StreamWriter, e: RouterError, attempts: number): DispatchOutcome {
  out.error(e);
  return { worker: null, status: e.statusCode, attempts, error: e };
}

export async function dispatch(d: DispatchDeps, r: DispatchRequest, out: StreamWriter): Promise<DispatchOutcome> {
  const req = prepare(d.prefix, r);
  if (d.registry.hasDisaggregatedRoles(r.model)) return dispatchPd(d, req, out);
  return dispatchWhole(d, req, out);
}

async function dispatchWhole(d: DispatchDeps, r: PreparedRequest, out: StreamWriter): Promise<DispatchOutcome> {
  const log = d.log.child({ reqId: r.meta.requestId, model: r.model });
  const tried = new Set<string>();
  let lastError: RouterError | null = null;
  for (let attempt = 1; attempt <= d.retry.maxAttempts; attempt++) {
    if (r.signal.aborted) return { worker: null, status: null, attempts: attempt - 1, error: null };
    const picked = pickWorker(d, r, 'whole', tried);
    if (!picked) return fail(out, noWorker(d, r.model), attempt - 1);
    const w = picked.worker;
    tried.add(w.id);
    const load = wholeLoad(r, picked.cachedTokens ?? 0);
    const a = await attemptCall(d, w, r.model, r.meta, r.body, r.signal, { mayRetry: attempt < d.retry.maxAttempts, leg: 'whole', buffer: !r.meta.stream, load, requestIdHeader: r.workerRequestId });
    if (a.kind === 'aborted') return { worker: w.id, status: null, attempts: attempt, error: null };
    if (a.kind === 'answer') {
      log.debug({ workerId: w.id, status: a.res.status, attempt }, 'worker answered');
      try {
        const { error } = await relay(a, out, w.id, r.model, d, log);
        if (error) d.breakers.failure(w.id);
        return { worker: w.id, status: a.res.status, attempts: attempt, error };
      } finally {
        a.release();
      }
    }
    log.warn({ workerId: w.id, err: a.error.message, attempt }, 'worker call failed');
    lastError = a.error;
    if (attempt === d.retry.maxAttempts) break;
    d.events.retry(r.model, a.reason);
    const go = await backoff(d, attempt, r.meta, r.signal);
    if (go === 'aborted') return { worker: null, status: null, attempts: attempt, error: null };
    if (go === 'deadline') return fail(out, deadlineError(r.meta), attempt);
  }
  return fail(out, lastError ?? errors.LLMR_ERR_UPSTREAM_UNREACHABLE('no attempt was made'), d.retry.maxAttempts);
}

/**
 * What a whole request adds to a worker's load: the prompt tokens the router believes it has not
 * cached (all of them when no policy read the prefix index), then the prompt's KV while it decodes.
 */
export function wholeLoad(r: PreparedRequest, cachedTokens: number): { prefill: number; decode: number } {
  const prompt = r.promptTokensEstimate();
  return { prefill: Math.max(0, prompt - cachedTokens), decode: prompt };
}
