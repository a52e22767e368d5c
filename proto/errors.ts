// Every error code the router can answer with, declared once (docs/ARCHITECTURE.md#errors-are-declared-once). Each has an
// HTTP status and an OpenAI error `type`; the README's error table lists them all, and a test
// keeps the two in step. An error that crosses NATS travels as code + status + message and is
// rebuilt here by code, never matched by `instanceof`. Spent codes are never reused.
import createError from '@fastify/error';

interface ErrorDef {
  readonly status: number;
  /** OpenAI's error `type`. */
  readonly type: 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'rate_limit_error' | 'server_error' | 'timeout_error';
  /** `%s` placeholders are filled from the constructor's arguments. */
  readonly message: string;
}

export const ERROR_DEFS = {
  LLMR_ERR_INVALID_JSON: { status: 400, type: 'invalid_request_error', message: 'The request body is not valid JSON: %s' },
  LLMR_ERR_INVALID_REQUEST: { status: 400, type: 'invalid_request_error', message: '%s' },
  LLMR_ERR_MISSING_MODEL: { status: 400, type: 'invalid_request_error', message: 'You must provide a model parameter.' },
  LLMR_ERR_INVALID_UTF8: { status: 400, type: 'invalid_request_error', message: 'The request body is not valid UTF-8.' },
  LLMR_ERR_INVALID_REQUEST_ID: { status: 400, type: 'invalid_request_error', message: 'X-Request-Id must be 1 to %s printable ASCII characters.' },
  LLMR_ERR_UNAUTHORIZED: { status: 401, type: 'authentication_error', message: 'A valid admin token is required.' },
  LLMR_ERR_INVALID_API_KEY: { status: 401, type: 'authentication_error', message: 'Incorrect API key provided. Send Authorization: Bearer <your API key>.' },
  LLMR_ERR_MODEL_NOT_FOUND: { status: 404, type: 'invalid_request_error', message: 'The model `%s` does not exist.' },
  LLMR_ERR_ROUTE_NOT_FOUND: { status: 404, type: 'invalid_request_error', message: 'Unknown route: %s %s' },
  LLMR_ERR_WORKER_NOT_FOUND: { status: 404, type: 'invalid_request_error', message: 'No worker with id `%s`.' },
  LLMR_ERR_METHOD_NOT_ALLOWED: { status: 405, type: 'invalid_request_error', message: 'Method %s is not allowed on %s.' },
  LLMR_ERR_REQUEST_TIMEOUT: { status: 408, type: 'timeout_error', message: 'The client did not send the request in time.' },
  LLMR_ERR_BODY_TOO_LARGE: { status: 413, type: 'invalid_request_error', message: 'The request body is larger than the limit of %s bytes.' },
  LLMR_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, type: 'invalid_request_error', message: 'Unsupported content type %s: send application/json.' },
  LLMR_ERR_HEADERS_TOO_LARGE: { status: 431, type: 'invalid_request_error', message: 'The request headers are too large.' },
  LLMR_ERR_RATE_LIMITED: { status: 429, type: 'rate_limit_error', message: 'Rate limit reached for %s per minute (limit %s) for this %s; retry in %s s.' },
  LLMR_ERR_QUEUE_FULL: { status: 429, type: 'rate_limit_error', message: 'The router is at capacity and its queue is full; retry later.' },
  LLMR_ERR_QUEUE_TIMEOUT: { status: 429, type: 'rate_limit_error', message: 'The router is at capacity: the request waited %s ms in its queue without a slot; retry later.' },
  LLMR_ERR_CLIENT_CLOSED: { status: 499, type: 'invalid_request_error', message: 'The client closed the request.' },
  LLMR_ERR_SLOW_CLIENT: { status: 499, type: 'invalid_request_error', message: 'The client read the stream too slowly; more than %s bytes were buffered.' },
  LLMR_ERR_INTERNAL: { status: 500, type: 'server_error', message: 'Internal router error: %s' },
  LLMR_ERR_UPSTREAM_UNREACHABLE: { status: 502, type: 'server_error', message: 'No worker could be reached: %s' },
  LLMR_ERR_UPSTREAM_PROTOCOL: { status: 502, type: 'server_error', message: 'The worker broke the protocol: %s' },
  LLMR_ERR_STREAM_BROKEN: { status: 502, type: 'server_error', message: 'The response stream from the scheduler was interrupted: %s' },
  LLMR_ERR_NO_SCHEDULER: { status: 503, type: 'server_error', message: 'No scheduler accepted the request.' },
  LLMR_ERR_NO_WORKER: { status: 503, type: 'server_error', message: 'No worker is available for model `%s`; retry later.' },
  LLMR_ERR_FLEET_SATURATED: { status: 503, type: 'server_error', message: 'Every worker of model `%s` is saturated and %s; retry later.' },
  LLMR_ERR_AUDIT_UNAVAILABLE: { status: 503, type: 'server_error', message: 'Requests cannot be recorded now (--audit required) and are refused until they can; retry later.' },
  LLMR_ERR_BUS_UNAVAILABLE: { status: 503, type: 'server_error', message: 'The message bus is unavailable: %s' },
  LLMR_ERR_SHUTTING_DOWN: { status: 503, type: 'server_error', message: 'The router is shutting down.' },
  LLMR_ERR_UPSTREAM_TIMEOUT: { status: 504, type: 'timeout_error', message: 'The worker did not answer in time: %s' },
  LLMR_ERR_STREAM_IDLE: { status: 504, type: 'timeout_error', message: 'The response stream went silent for more than %s ms.' },
  LLMR_ERR_DEADLINE: { status: 504, type: 'timeout_error', message: 'The request deadline (%s) passed.' },
} as const satisfies Record<string, ErrorDef>;

export type ErrorCode = keyof typeof ERROR_DEFS;
export const ERROR_CODES = Object.keys(ERROR_DEFS) as ErrorCode[];

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_DEFS, code);
}

/** A coded router error: `code`, `statusCode`, OpenAI `type`, optional `param` and `retryAfterS`. */
export interface RouterError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly type: string;
  param?: string | null;
  retryAfterS?: number;
}

type Ctor = (...args: unknown[]) => RouterError;

function make(code: ErrorCode): Ctor {
  const d: ErrorDef = ERROR_DEFS[code];
  // Expected failures: no stack capture (as undici's response-error interceptor does).
  const E = createError(code, d.message, d.status, Error, false);
  return (...args: unknown[]) => {
    const e = new E(...args) as unknown as RouterError & { type: string };
    e.type = d.type;
    return e;
  };
}

export const errors = Object.fromEntries(ERROR_CODES.map((c) => [c, make(c)])) as Record<ErrorCode, Ctor>;

export function isRouterError(e: unknown): e is RouterError {
  return e instanceof Error && isErrorCode((e as { code?: unknown }).code);
}

/** An error as it crosses NATS. */
export interface WireError {
  readonly code: ErrorCode;
  readonly status: number;
  readonly message: string;
  readonly param?: string | null;
  readonly retryAfterS?: number;
}

export function toWire(e: RouterError): WireError {
  return {
    code: e.code,
    status: e.statusCode,
    message: e.message,
    ...(e.param !== undefined ? { param: e.param } : {}),
    ...(e.retryAfterS !== undefined ? { retryAfterS: e.retryAfterS } : {}),
  };
}

/** Rebuilds a coded error from the wire, keeping the sender's message. Unknown codes become LLMR_ERR_INTERNAL. */
export function fromWire(w: unknown): RouterError {
  const o = (w ?? {}) as Partial<Record<keyof WireError, unknown>>;
  const code: ErrorCode = isErrorCode(o.code) ? o.code : 'LLMR_ERR_INTERNAL';
  const e = errors[code]();
  // Without the sender's message, the bare template must not show its placeholders.
  const message = typeof o.message === 'string' ? o.message : e.message.replace(/%s/g, '(unknown)');
  Object.defineProperty(e, 'message', { value: message, enumerable: false, writable: true, configurable: true });
  if (typeof o.param === 'string' || o.param === null) e.param = o.param;
  if (typeof o.retryAfterS === 'number') e.retryAfterS = o.retryAfterS;
  return e;
}
