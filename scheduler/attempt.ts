// The two halves of trying a worker: one call to it (counted in flight, fed to its circuit
// breaker, failures sorted into retry-or-not), and the relay of its answer into stream-protocol
// frames. The loop around them is retry-executor.ts.
// Non-streaming answers are read whole before anything is passed on, so a worker that dies in
// the middle of one is retried like any other failure before the first byte.
import type { RequestLog } from '../runtime/lazy-log.ts';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { errors, toWire, type RouterError } from '../proto/errors.ts';
import type { RequestMeta } from '../proto/request-meta.ts';
import type { Usage } from '../proto/stream.ts';
import type { CircuitBreakers } from './circuit-breaker.ts';
import type { DispatchEvents, Leg } from './events.ts';
import type { InflightTracker } from './inflight.ts';
import type { WorkerView } from './registry.ts';
import type { StreamWriter } from './stream-writer.ts';
import { callWorker, classify, RETRYABLE_STATUSES, type ClassifiedError, type UpstreamOptions, type UpstreamResponse } from './upstream.ts';
import { UsageScanner } from './usage-scan.ts';

export interface CallDeps {
  readonly agent: Dispatcher;
  readonly upstream: UpstreamOptions;
  readonly inflight: InflightTracker;
  readonly breakers: CircuitBreakers;
  readonly events: DispatchEvents;
}

// Leg lives with the events it labels; metrics.ts still imports it from here.
export type { Leg } from './events.ts';

export type Attempt =
  /** An answer to pass on (2xx, a client error, or a retryable status when no retry is allowed). */
  | {
      readonly kind: 'answer';
      readonly res: UpstreamResponse;
      readonly buffered: Uint8Array | null;
      readonly startedAt: number;
      readonly release: () => void;
      /** The worker sent its first body byte: its prompt is computed (for the load the router tracks). */
      readonly prefillDone: () => void;
    }
  /** Failed in a way another worker may not: try again. */
  | { readonly kind: 'retry'; readonly error: RouterError; readonly reason: string }
  /** The client went away (or the deadline passed). */
  | { readonly kind: 'aborted' };

export type Answer = Extract<Attempt, { readonly kind: 'answer' }>;

/**
 * Calls `w`. The worker counts as in flight until `release` is called (after the answer has been
 * relayed) or, for failures, at once; with `load`, so do the prompt tokens it has to compute
 * (until its first byte) and the KV tokens the request then holds. The outcome feeds the
 * worker's circuit breaker: 5xx and transport failures count against it, anything else (4xx
 * included) for it. With `buffer`, the whole body is read here.
 */
export async function attemptCall(
  d: CallDeps,
  w: WorkerView,
  meta: RequestMeta,
  body: Uint8Array,
  signal: AbortSignal,
  opts: {
    readonly mayRetry: boolean;
    readonly leg: Leg;
    readonly buffer: boolean;
    /** The X-Request-Id the worker sees (the router's own id for the request). */
    readonly requestIdHeader: string;
    readonly load?: { readonly prefill: number; readonly decode: number } | undefined;
    /** False for a retryable status that is not worth retrying now (the fleet is saturated): it is then the answer. */
    readonly retryStatus?: ((status: number) => boolean) | undefined;
  },
): Promise<Attempt> {
  const load = d.inflight.start(w.id, opts.load?.prefill ?? 0, opts.load?.decode ?? 0);
  d.breakers.acquire(w.id);
  const startedAt = performance.now();
  const release = load.end;
  try {
    const res = await callWorker(d.agent, d.upstream, { url: w.url, meta, body, signal, requestIdHeader: opts.requestIdHeader });
    d.events.upstream(w.id, opts.leg, res.status, (performance.now() - startedAt) / 1000);
    if (res.status >= 500) d.breakers.failure(w.id);
    else d.breakers.success(w.id);
    if (opts.mayRetry && RETRYABLE_STATUSES.has(res.status) && (opts.retryStatus?.(res.status) ?? true)) {
      await res.body.dump().catch(() => undefined);
      release();
      return { kind: 'retry', error: errors.LLMR_ERR_UPSTREAM_UNREACHABLE(`a worker answered ${res.status}`), reason: `status_${res.status}` };
    }
    if (!opts.buffer && res.status < 300) {
      // A stream has begun only at its first bytes (vLLM sends the head while it queues and
      // prefills): until then a failure is retried like any other, within the first-token timeout.
      await firstByte(res, d.upstream.headersTimeoutMs - (performance.now() - startedAt));
    }
    let buffered: Uint8Array | null = null;
    if (opts.buffer) {
      // A JSON answer's status line comes with its end: the prompt was computed long before.
      load.prefillDone();
      const chunks: Buffer[] = [];
      let size = 0;
      await res.body.consume((c) => {
        size += c.length;
        if (size > d.upstream.maxBufferedBytes) throw errors.LLMR_ERR_UPSTREAM_PROTOCOL(`answer larger than ${d.upstream.maxBufferedBytes} bytes`);
        chunks.push(c);
      });
      buffered = Buffer.concat(chunks, size);
    }
    return { kind: 'answer', res, buffered, startedAt, release, prefillDone: load.prefillDone };
  } catch (e) {
    release();
    if (signal.aborted || (e as ClassifiedError).aborted) {
      d.breakers.release(w.id);
      return { kind: 'aborted' };
    }
    const c = (e as ClassifiedError).retryable !== undefined ? (e as ClassifiedError) : classify(e);
    if (c.aborted) {
      d.breakers.release(w.id);
      return { kind: 'aborted' };
    }
    d.breakers.failure(w.id);
    d.events.upstream(w.id, opts.leg, 'error', (performance.now() - startedAt) / 1000);
    return { kind: 'retry', error: c, reason: c.code === 'LLMR_ERR_UPSTREAM_TIMEOUT' ? 'timeout' : 'connection' };
  }
}

/** Waits for a streamed answer's first bytes, at most `ms`; on a timeout the body is aborted. */
async function firstByte(res: UpstreamResponse, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        const e = new undiciErrors.HeadersTimeoutError();
        res.body.abort(e);
        reject(e);
      },
      Math.max(0, ms),
    );
  });
  try {
    await Promise.race([res.body.whenFirstByte(), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RelayResult {
  readonly error: RouterError | null;
  readonly usage: Usage | null;
}

export interface BodyTransform {
  /** What to send now for this chunk. */
  push(chunk: Uint8Array): Uint8Array;
  /** What is left at the end. */
  flush(): Uint8Array;
}

/**
 * Writes a worker's answer as `head`, `data`…, `end`, timing the stream's chunks and reading
 * its usage on the way. A failure after the head ends the stream with an error (no retry can
 * undo bytes the client has). `transform` may rewrite the body as it passes (P/D usage).
 */
export async function relay(a: Answer, out: StreamWriter, workerLabel: string, model: string, d: CallDeps, log: RequestLog, transform?: BodyTransform): Promise<RelayResult> {
  const scan = new UsageScanner(/^text\/event-stream/.test(a.res.contentType));
  const pass = (chunk: Uint8Array): void => {
    const bytes = transform ? transform.push(chunk) : chunk;
    scan.push(bytes);
    out.data(bytes);
  };
  const finish = (): RelayResult => {
    if (transform) {
      const rest = transform.flush();
      scan.push(rest);
      out.data(rest);
    }
    const usage = a.res.status < 300 ? scan.usage() : null;
    if (usage) d.events.tokens(model, usage.promptTokens, usage.completionTokens);
    out.end(usage ? { usage } : {});
    return { error: null, usage };
  };
  out.head(a.res.status, a.res.contentType, workerLabel);
  if (a.buffered) {
    pass(a.buffered);
    return finish();
  }
  let last = a.startedAt;
  let first = true;
  try {
    await a.res.body.consume((chunk) => {
      const now = performance.now();
      if (first) {
        d.events.firstChunk(model, (now - a.startedAt) / 1000);
        a.prefillDone();
      } else d.events.interChunk(model, (now - last) / 1000);
      first = false;
      last = now;
      pass(chunk);
    });
    return finish();
  } catch (e) {
    const c = classify(e);
    if (c.aborted) {
      out.end({ error: toWire(errors.LLMR_ERR_CLIENT_CLOSED()) });
      return { error: null, usage: null };
    }
    const broken = errors.LLMR_ERR_STREAM_BROKEN(`the worker failed mid-answer (${c.code})`);
    log.warn({ workerId: workerLabel, err: c.message }, 'worker failed mid-answer');
    out.end({ error: toWire(broken) });
    return { error: broken, usage: null };
  }
}

/** An answer passed on: by whom (its label), its status, and the error if it broke on the way. */
export interface PassedOn {
  readonly kind: 'answered';
  readonly worker: string;
  readonly status: number;
  readonly error: RouterError | null;
}

/**
 * Relays `a` and ends the call. An answer that breaks on the way counts against `workerId`'s
 * circuit breaker (the worker that streamed it; `label` may name a prefill,decode pair).
 */
export async function passOn(
  d: CallDeps,
  a: Answer,
  out: StreamWriter,
  o: { readonly label: string; readonly workerId: string; readonly model: string; readonly log: RequestLog; readonly transform?: BodyTransform | undefined },
): Promise<PassedOn> {
  try {
    const { error } = await relay(a, out, o.label, o.model, d, o.log, o.transform);
    if (error) d.breakers.failure(o.workerId);
    return { kind: 'answered', worker: o.label, status: a.res.status, error };
  } finally {
    a.release();
  }
}
