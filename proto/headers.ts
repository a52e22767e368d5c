// NATS header names of requests, in one documented map (as nats.js keeps JetStream's). Stream
// frames carry no headers: they travel in bundles (proto/stream.ts).

export const H = {
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
  /** request: the ingress's audit id of the request (absent: audit off); the scheduler's decision record carries it. */
  auditId: 'Llm-Audit-Id',
  /** request: the priority the request is served at (absent: 0). */
  priority: 'Llm-Priority',
} as const;

export type HeaderName = (typeof H)[keyof typeof H];

/** Reads one header; the codecs take this instead of a NATS type so that proto stays I/O-free. */
export type HeaderGetter = (name: string) => string | undefined;
