// NATS header names of protocol v1, in one documented map (as nats.js keeps JetStream's).

export const H = {
  /** Stream protocol: the frame kind (see stream.ts). */
  kind: 'Llm-Kind',
  /** Stream protocol: 0, 1, 2, … per request; a gap means loss. */
  seq: 'Llm-Seq',
  /** accepted: the scheduler that took the request (where cancels go). */
  scheduler: 'Llm-Scheduler',
  /** head / error: the HTTP status to answer with. */
  status: 'Llm-Status',
  /** head: the worker's content type. */
  contentType: 'Content-Type',
  /** head: the worker (or `prefill,decode` pair) that answered. */
  worker: 'Llm-Worker',
  /** head: a Retry-After to pass on (seconds). */
  retryAfter: 'Llm-Retry-After',
  /** request: the id the client sees (X-Request-Id). */
  requestId: 'Llm-Request-Id',
  /** request: which OpenAI route (`chat` or `completions`). */
  route: 'Llm-Route',
  /** request: `true` when the client asked for SSE. */
  stream: 'Llm-Stream',
  /** request: the key sticky policies hash (session, user, or a hash of the request). */
  routingKey: 'Llm-Routing-Key',
  /** request: absolute deadline, epoch milliseconds. */
  deadline: 'Llm-Deadline',
  /** request: the ingress's region (schedulers prefer workers there). */
  region: 'Llm-Region',
  /** request: W3C trace context. */
  traceparent: 'traceparent',
} as const;

export type HeaderName = (typeof H)[keyof typeof H];

/** Reads one header; the codecs take this instead of a NATS type so that proto stays I/O-free. */
export type HeaderGetter = (name: string) => string | undefined;
