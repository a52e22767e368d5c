// The pieces every dispatch path is made of: one call to one worker (counted in flight, failures
// sorted into retry-or-not), the wait between attempts (backoff within the deadline), and the
// relay of a worker's answer into stream-protocol frames.
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { errors, toWire, type RouterError } from '../proto/errors.ts';
import type { RequestMeta } from '../proto/request-meta.ts';
import type { CircuitBreakers } from './circuit-breaker.ts';
import type { InflightTracker } from './inflight.ts';
import type { WorkerView } from './registry.ts';
import { backoffMs, sleep, type RetryOptions } from './retry.ts';
import type { StreamWriter } from './stream-writer.ts';
import { callWorker, classify, RETRYABLE_STATUSES, type ClassifiedError, type UpstreamOptions, type UpstreamResponse } from './upstream.ts';

export interface CallDeps {
  readonly agent: Dispatcher;
  readonly upstream: UpstreamOptions;
  readonly inflight: InflightTracker;
  readonly breakers: CircuitBreakers;
  readonly retry: RetryOptions;
  readonly random: () => number;
}

export type Attempt =
  /** An answer to pass on (2xx, a client error, or a retryable status when no retry is allowed). */
  | { readonly kind: 'answer'; readonly res: UpstreamResponse; readonly release: () => void }
  /** Failed in a way another worker may not: try again. */
  | { readonly kind: 'retry'; readonly error: RouterError }
  /** The client went away (or the deadline passed). */
  | { readonly kind: 'aborted' };

/**
 * Calls `w`. The worker counts as in flight until `release` is called (after the answer has been
 * relayed) or, for failures, at once. The outcome feeds the worker's circuit breaker: 5xx and
 * transport failures count against it, anything else (4xx included) for it.
 */
export async function attemptCall(
  d: CallDeps,
  w: WorkerView,
  meta: RequestMeta,
  body: Uint8Array,
  signal: AbortSignal,
  opts: { readonly mayRetry: boolean; readonly requestIdHeader?: string | undefined },
): Promise<Attempt> {
  d.inflight.inc(w.id);
  d.breakers.acquire(w.id);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    d.inflight.dec(w.id);
  };
  try {
    const res = await callWorker(d.agent, d.upstream, { url: w.url, meta, body, signal, ...(opts.requestIdHeader ? { requestIdHeader: opts.requestIdHeader } : {}) });
    if (res.status >= 500) d.breakers.failure(w.id);
    else d.breakers.success(w.id);
    if (opts.mayRetry && RETRYABLE_STATUSES.has(res.status)) {
      await res.body.dump().catch(() => undefined);
      release();
      return { kind: 'retry', error: errors.LLMR_ERR_UPSTREAM_UNREACHABLE(`${w.url} answered ${res.status}`) };
    }
    return { kind: 'answer', res, release };
  } catch (e) {
    release();
    const c = e as ClassifiedError;
    if (c.aborted || signal.aborted) {
      d.breakers.release(w.id);
      return { kind: 'aborted' };
    }
    d.breakers.failure(w.id);
    return { kind: 'retry', error: c };
  }
}

/**
 * Waits before attempt `n + 1`. False when the request should stop trying: the client left, or
 * the wait would pass the deadline (then `deadlineError` says so).
 */
export async function backoff(d: CallDeps, n: number, meta: RequestMeta, signal: AbortSignal): Promise<'go' | 'aborted' | 'deadline'> {
  const wait = backoffMs(n, d.retry, d.random);
  if (meta.deadline !== null && meta.deadline - Date.now() <= wait) return 'deadline';
  return (await sleep(wait, signal)) ? 'go' : 'aborted';
}

export function deadlineError(meta: RequestMeta): RouterError {
  return errors.LLMR_ERR_DEADLINE(new Date(meta.deadline ?? Date.now()).toISOString());
}

export interface RelayResult {
  readonly error: RouterError | null;
}

/**
 * Writes a worker's answer as `head`, `data`…, `end`. A failure after the head ends the stream
 * with an error (no retry can undo bytes the client has). `transform` may rewrite the body as it
 * passes (P/D usage); it must return what to send now, and `flush` what is left at the end.
 */
export async function relay(
  res: UpstreamResponse,
  out: StreamWriter,
  workerLabel: string,
  log: Logger,
  transform?: { push(chunk: Uint8Array): Uint8Array; flush(): Uint8Array },
): Promise<RelayResult> {
  out.head(res.status, res.contentType, workerLabel);
  try {
    for await (const chunk of res.body) out.data(transform ? transform.push(chunk as Uint8Array) : (chunk as Uint8Array));
    if (transform) out.data(transform.flush());
    out.end();
    return { error: null };
  } catch (e) {
    const c = classify(e, workerLabel);
    if (c.aborted) {
      out.end({ error: toWire(errors.LLMR_ERR_CLIENT_CLOSED()) });
      return { error: null };
    }
    const broken = errors.LLMR_ERR_STREAM_BROKEN(`worker ${workerLabel} failed mid-answer: ${c.message}`);
    log.warn({ workerId: workerLabel, err: c.message }, 'worker failed mid-answer');
    out.end({ error: toWire(broken) });
    return { error: broken };
  }
}
