// Calls a worker over HTTP with undici: one keep-alive pool per worker origin, the client's body
// bytes as they came, and failures sorted into what a retry may fix and what it may not.
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
import { errors, type RouterError } from '../proto/errors.ts';
import { ROUTES, type RequestMeta } from '../proto/request-meta.ts';

export interface UpstreamOptions {
  /** Connecting to a worker (TCP) may take this long. */
  readonly connectTimeoutMs: number;
  /** From sending the request to the worker's status line (for a stream: its first token). */
  readonly headersTimeoutMs: number;
  /** Silence allowed between two body chunks. */
  readonly bodyTimeoutMs: number;
  /** Sent as `Authorization: Bearer …` to workers (vLLM --api-key). */
  readonly workerApiKey: string | null;
  /** An idle keep-alive connection to a worker is closed after this (undici's keepAliveTimeout)… */
  readonly keepAliveTimeoutMs: number;
  /** …or after what the worker's Keep-Alive header asks, up to this (undici's keepAliveMaxTimeout). */
  readonly keepAliveMaxTimeoutMs: number;
  /** Largest non-streaming answer read whole (a larger one is a protocol error). */
  readonly maxBufferedBytes: number;
  /** Beyond this many bytes a discarded body closes its connection instead of being read out. */
  readonly discardLimitBytes: number;
}

export function createAgent(o: UpstreamOptions): Agent {
  return new Agent({
    connect: { timeout: o.connectTimeoutMs, noDelay: true },
    keepAliveTimeout: o.keepAliveTimeoutMs,
    keepAliveMaxTimeout: o.keepAliveMaxTimeoutMs,
    headersTimeout: o.headersTimeoutMs,
    bodyTimeout: o.bodyTimeoutMs,
    pipelining: 1,
  });
}

export interface UpstreamResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: UpstreamBody;
}

export interface CallOptions {
  readonly url: string;
  readonly meta: RequestMeta;
  readonly body: Uint8Array;
  readonly signal: AbortSignal;
  /**
   * The X-Request-Id the worker sees: always the router's own, never the client's (a client's id
   * could collide with another's, and P2P-NCCL parses KV peer addresses out of it).
   */
  readonly requestIdHeader: string;
}

/** Sends one request; resolves at the worker's status line. Transport failures become coded errors. */
export function callWorker(agent: Dispatcher, o: UpstreamOptions, c: CallOptions): Promise<UpstreamResponse> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-request-id': c.requestIdHeader,
  };
  if (o.workerApiKey) headers.authorization = `Bearer ${o.workerApiKey}`;
  if (c.meta.traceparent) headers.traceparent = c.meta.traceparent;
  if (c.signal.aborted) return Promise.reject(classify(new undiciErrors.RequestAbortedError()));
  return new Promise((resolve, reject) => {
    const call = new Call(c.signal, resolve, reject, o.discardLimitBytes);
    try {
      agent.dispatch({ origin: c.url, path: ROUTES[c.meta.route], method: 'POST', headers, body: c.body }, call);
    } catch (e) {
      call.onResponseError(null, e as Error);
    }
  });
}

/**
 * A worker's answer body, fed by undici's dispatch callbacks: no Readable stream and no promise
 * per chunk (with thousands of streams open those were a large part of the scheduler's CPU and,
 * living from one token to the next, of its old generation). Chunks that arrive before a
 * consumer attaches are kept for it.
 */
export class UpstreamBody {
  readonly #discardLimit: number;
  #controller: Dispatcher.DispatchController | null = null;
  #early: Buffer[] | null = [];
  #onChunk: ((chunk: Buffer) => void) | null = null;
  #ended = false;
  #error: Error | null = null;
  #settle: { resolve: () => void; reject: (e: Error) => void } | null = null;
  #firstByte: { resolve: () => void; reject: (e: Error) => void } | null = null;

  /** `discardLimit`: see {@link UpstreamOptions.discardLimitBytes}. */
  constructor(discardLimit: number) {
    this.#discardLimit = discardLimit;
  }

  /**
   * Settles when the first body bytes arrive or the body ends (empty); rejects when it fails
   * before any byte. vLLM sends a stream's status line at once and its first event only with the
   * first token, so until then the answer has not really begun: a worker dying while it waits or
   * prefills is still a failure another worker can retry. Call before `consume`.
   */
  whenFirstByte(): Promise<void> {
    if (this.#ended || (this.#early !== null && this.#early.length > 0)) return Promise.resolve();
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => (this.#firstByte = { resolve, reject }));
  }

  /** Feeds every chunk to `onChunk`; settles when the body ends or fails. One consumer only. */
  consume(onChunk: (chunk: Buffer) => void): Promise<void> {
    if (this.#onChunk) return Promise.reject(new Error('the body is already being read'));
    return new Promise((resolve, reject) => {
      this.#onChunk = onChunk;
      this.#settle = { resolve, reject };
      const early = this.#early ?? [];
      this.#early = null;
      try {
        for (const c of early) onChunk(c);
      } catch (e) {
        this.#ended = false; // the consumer refused the body, whether or not all of it had come
        this.abort(e as Error);
        return;
      }
      if (this.#error) reject(this.#error);
      else if (this.#ended) resolve();
    });
  }

  /** Discards the rest; a long rest closes the connection rather than being read out. */
  async dump(): Promise<void> {
    let seen = 0;
    await this.consume((c) => {
      seen += c.length;
      if (seen > this.#discardLimit) throw new Error('discarded');
    }).catch(() => undefined);
  }

  /** Ends the body early with `reason` (a consumer that cannot go on). */
  abort(reason: Error): void {
    if (this.#controller && !this.#controller.aborted) this.#controller.abort(reason);
    // A finished request ignores the abort above; the consumer still learns why it stopped.
    this.fail(reason);
  }

  /** @internal Call's side. */
  attach(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
  }

  /** @internal */
  data(chunk: Buffer): void {
    if (this.#error || this.#ended) return;
    if (this.#early) {
      this.#early.push(chunk);
      this.#firstByte?.resolve();
      this.#firstByte = null;
      return;
    }
    try {
      this.#onChunk!(chunk);
    } catch (e) {
      this.abort(e as Error);
    }
  }

  /** @internal */
  end(): void {
    this.#ended = true;
    if (this.#settle && !this.#error) this.#settle.resolve();
    this.#firstByte?.resolve();
    this.#firstByte = null;
  }

  /** @internal */
  fail(e: Error): void {
    if (this.#ended) return;
    this.#error ??= e;
    if (this.#settle) this.#settle.reject(this.#error);
    this.#firstByte?.reject(this.#error);
    this.#firstByte = null;
  }
}

/** One request's undici handler: resolves at the status line, then feeds the body. */
class Call implements Dispatcher.DispatchHandler {
  readonly #signal: AbortSignal;
  readonly #resolve: (r: UpstreamResponse) => void;
  readonly #reject: (e: ClassifiedError) => void;
  readonly #body: UpstreamBody;
  #started = false;
  #done = false;
  readonly #onAbort = (): void => this.#body.abort(new undiciErrors.RequestAbortedError());

  constructor(signal: AbortSignal, resolve: (r: UpstreamResponse) => void, reject: (e: ClassifiedError) => void, discardLimit: number) {
    this.#body = new UpstreamBody(discardLimit);
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#body.attach(controller);
    if (this.#signal.aborted) this.#onAbort();
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return; // 1xx: the answer is still to come
    this.#started = true;
    const ct = headers['content-type'];
    this.#resolve({ status: statusCode, contentType: (Array.isArray(ct) ? ct[0] : ct) ?? 'application/json', body: this.#body });
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#body.data(chunk);
  }

  onResponseEnd(): void {
    this.#finish();
    this.#body.end();
  }

  onResponseError(_c: Dispatcher.DispatchController | null, error: Error): void {
    this.#finish();
    if (this.#started) this.#body.fail(error);
    else this.#reject(classify(error));
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#signal.removeEventListener('abort', this.#onAbort);
  }
}

/** Statuses a different worker may answer better (the vLLM Router's list). */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

export interface ClassifiedError extends RouterError {
  /** A connection-level failure, timeout or abort by us. */
  readonly retryable: boolean;
  readonly aborted: boolean;
}

/**
 * The message says what failed, never where: it reaches the client, and a worker's address is
 * the operator's business (the scheduler's own log line names the worker).
 */
export function classify(e: unknown): ClassifiedError {
  const err = e as { code?: string; name?: string; message?: string };
  const aborted = err?.name === 'AbortError' || err?.code === 'UND_ERR_ABORTED' || e instanceof undiciErrors.RequestAbortedError;
  let out: RouterError;
  if (e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError || e instanceof undiciErrors.ConnectTimeoutError) {
    out = errors.LLMR_ERR_UPSTREAM_TIMEOUT(String(err.code));
  } else {
    out = errors.LLMR_ERR_UPSTREAM_UNREACHABLE(err?.code ?? 'connection failed');
  }
  return Object.assign(out, { retryable: !aborted, aborted });
}
