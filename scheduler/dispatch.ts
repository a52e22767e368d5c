// Serves one accepted request: pick a worker by policy, call it, stream its answer back as
// stream-protocol frames. Retries (a different worker each attempt, backoff with full jitter,
// within the request's deadline) happen only before the first byte of an answer is passed on;
// after that, a failure ends the stream with an error.
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { errors, toWire, type RouterError } from '../proto/errors.ts';
import type { RequestMeta } from '../proto/request-meta.ts';
import type { InflightTracker } from './inflight.ts';
import type { PolicySet } from './policy-set.ts';
import type { Candidate } from './policies/types.ts';
import type { Registry, WorkerView } from './registry.ts';
import { backoffMs, sleep, type RetryOptions } from './retry.ts';
import type { StreamWriter } from './stream-writer.ts';
import { callWorker, classify, RETRYABLE_STATUSES, type ClassifiedError, type UpstreamOptions } from './upstream.ts';

export interface DispatchDeps {
  readonly registry: Registry;
  readonly inflight: InflightTracker;
  readonly policies: PolicySet;
  readonly agent: Dispatcher;
  readonly upstream: UpstreamOptions;
  readonly retry: RetryOptions;
  readonly random: () => number;
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
}

export interface DispatchOutcome {
  readonly worker: string | null;
  readonly status: number | null;
  readonly attempts: number;
  readonly error: RouterError | null;
}

export function toCandidates(workers: readonly WorkerView[], inflight: InflightTracker): Candidate[] {
  return workers.map((worker) => ({ worker, inflight: inflight.total(worker.id) }));
}

export async function dispatch(d: DispatchDeps, r: DispatchRequest, out: StreamWriter): Promise<DispatchOutcome> {
  const tried = new Set<string>();
  let lastError: RouterError | null = null;
  let attempt = 0;
  const log = d.log.child({ reqId: r.meta.requestId, model: r.model });
  while (attempt < d.retry.maxAttempts) {
    attempt++;
    if (r.signal.aborted) return { worker: null, status: null, attempts: attempt - 1, error: null };
    const all = d.registry.candidates(r.model, 'whole');
    if (all.length === 0) {
      const e = d.registry.knows(r.model) ? errors.LLMR_ERR_NO_WORKER(r.model) : errors.LLMR_ERR_MODEL_NOT_FOUND(r.model);
      if (e.code === 'LLMR_ERR_NO_WORKER') e.retryAfterS = d.retryAfterS;
      if (e.code === 'LLMR_ERR_MODEL_NOT_FOUND') e.param = 'model';
      out.error(e);
      return { worker: null, status: e.statusCode, attempts: attempt - 1, error: e };
    }
    const fresh = all.filter((w) => !tried.has(w.id));
    const pool = fresh.length > 0 ? fresh : all;
    const policy = d.policies.get(r.model, 'whole');
    const pick = policy.pick(toCandidates(pool, d.inflight), { model: r.model, routingKey: r.meta.routingKey }, { random: d.random });
    if (!pick) {
      const e = errors.LLMR_ERR_NO_WORKER(r.model);
      e.retryAfterS = d.retryAfterS;
      out.error(e);
      return { worker: null, status: e.statusCode, attempts: attempt - 1, error: e };
    }
    const w = pick.worker;
    tried.add(w.id);
    d.inflight.inc(w.id);
    try {
      const res = await callWorker(d.agent, d.upstream, { url: w.url, meta: r.meta, body: r.body, signal: r.signal });
      const retry = RETRYABLE_STATUSES.has(res.status) && attempt < d.retry.maxAttempts;
      if (retry) {
        await res.body.dump().catch(() => undefined);
        log.warn({ workerId: w.id, status: res.status, attempt }, 'worker answered with a retryable status');
        lastError = errors.LLMR_ERR_UPSTREAM_UNREACHABLE(`${w.url} answered ${res.status}`);
      } else {
        log.debug({ workerId: w.id, status: res.status, attempt }, 'worker answered');
        out.head(res.status, res.contentType, w.id);
        try {
          for await (const chunk of res.body) out.data(chunk as Uint8Array);
          out.end();
        } catch (e) {
          const c = classify(e, w.url);
          if (c.aborted) {
            out.end({ error: toWire(errors.LLMR_ERR_CLIENT_CLOSED()) });
            return { worker: w.id, status: res.status, attempts: attempt, error: null };
          }
          const broken = errors.LLMR_ERR_STREAM_BROKEN(`worker ${w.id} failed mid-answer: ${c.message}`);
          log.warn({ workerId: w.id, err: c.message }, 'worker failed mid-answer');
          out.end({ error: toWire(broken) });
          return { worker: w.id, status: res.status, attempts: attempt, error: broken };
        }
        return { worker: w.id, status: res.status, attempts: attempt, error: null };
      }
    } catch (e) {
      const c = e as ClassifiedError;
      if (c.aborted || r.signal.aborted) return { worker: w.id, status: null, attempts: attempt, error: null };
      log.warn({ workerId: w.id, err: c.message, attempt }, 'worker call failed');
      lastError = c;
    } finally {
      d.inflight.dec(w.id);
    }
    if (attempt >= d.retry.maxAttempts) break;
    const wait = backoffMs(attempt, d.retry, d.random);
    const deadlineLeft = r.meta.deadline === null ? Infinity : r.meta.deadline - Date.now();
    if (deadlineLeft <= wait) {
      lastError = errors.LLMR_ERR_DEADLINE(new Date(r.meta.deadline ?? Date.now()).toISOString());
      break;
    }
    if (!(await sleep(wait, r.signal))) return { worker: null, status: null, attempts: attempt, error: null };
  }
  const e = lastError ?? errors.LLMR_ERR_UPSTREAM_UNREACHABLE('no attempt was made');
  out.error(e);
  return { worker: null, status: e.statusCode, attempts: attempt, error: e };
}
