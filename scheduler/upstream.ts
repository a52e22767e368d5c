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
}

export function createAgent(o: UpstreamOptions): Agent {
  return new Agent({
    connect: { timeout: o.connectTimeoutMs, noDelay: true },
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    headersTimeout: o.headersTimeoutMs,
    bodyTimeout: o.bodyTimeoutMs,
    pipelining: 1,
  });
}

export interface UpstreamResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: Dispatcher.ResponseData['body'];
}

export interface CallOptions {
  readonly url: string;
  readonly meta: RequestMeta;
  readonly body: Uint8Array;
  readonly signal: AbortSignal;
  /** Overrides the route's path (P/D legs use the same route). */
  readonly requestIdHeader?: string;
}

/** Sends one request; resolves at the worker's status line. Transport failures become coded errors. */
export async function callWorker(agent: Dispatcher, o: UpstreamOptions, c: CallOptions): Promise<UpstreamResponse> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-request-id': c.requestIdHeader ?? c.meta.requestId,
  };
  if (o.workerApiKey) headers.authorization = `Bearer ${o.workerApiKey}`;
  if (c.meta.traceparent) headers.traceparent = c.meta.traceparent;
  try {
    const res = await agent.request({ origin: c.url, path: ROUTES[c.meta.route], method: 'POST', headers, body: c.body, signal: c.signal });
    const ct = res.headers['content-type'];
    return { status: res.statusCode, contentType: (Array.isArray(ct) ? ct[0] : ct) ?? 'application/json', body: res.body };
  } catch (e) {
    throw classify(e, c.url);
  }
}

/** Statuses a different worker may answer better (the vLLM Router's list). */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

export interface ClassifiedError extends RouterError {
  /** A connection-level failure, timeout or abort by us. */
  readonly retryable: boolean;
  readonly aborted: boolean;
}

export function classify(e: unknown, url: string): ClassifiedError {
  const err = e as { code?: string; name?: string; message?: string };
  const aborted = err?.name === 'AbortError' || err?.code === 'UND_ERR_ABORTED' || e instanceof undiciErrors.RequestAbortedError;
  let out: RouterError;
  if (e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError || e instanceof undiciErrors.ConnectTimeoutError) {
    out = errors.LLMR_ERR_UPSTREAM_TIMEOUT(`${url}: ${err.code}`);
  } else {
    out = errors.LLMR_ERR_UPSTREAM_UNREACHABLE(`${url}: ${err?.code ?? err?.message ?? String(e)}`);
  }
  return Object.assign(out, { retryable: !aborted, aborted });
}
