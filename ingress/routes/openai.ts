// The OpenAI routes: POST /v1/chat/completions and /v1/completions (JSON or SSE), GET /v1/models.
// A request is checked just enough to route it (JSON object, a model, the fields' basic types),
// published on llm.v2.req.<model> with its bytes untouched (unless it carried router-owned
// fields, which are removed), and answered from the stream protocol by a ResponseRelay
// (response-relay.ts): an error before the head becomes a normal error reply (thrown here, to
// the app's error handler); after it, the worker's bytes are written as they come.
//
// A fastify plugin, registered encapsulated under /v1: with API keys configured its key check is
// a hook of these routes (and of its own not-found handler), so every /v1 request passes it.
import { isUtf8 } from 'node:buffer';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { errors, type RouterError } from '../../proto/errors.ts';
import { encodeRequestMeta, ROUTES, type Route } from '../../proto/request-meta.ts';
import { subjects } from '../../proto/subjects.ts';
import { natsHeaders } from '../../runtime/nats.ts';
import type { BusState } from '../../runtime/bus-state.ts';
import { bearerToken, type ApiKeys } from '../api-keys.ts';
import type { IngressMetrics } from '../metrics.ts';
import { notFoundHandler } from '../not-found.ts';
import type { IngressOptions } from '../options.ts';
import { stripRouterOwned } from '../router-owned.ts';
import { routingKey } from '../routing-key.ts';
import { ResponseRelay } from '../response-relay.ts';
import type { Admission } from '../admission.ts';
import { admit, requestPriority } from '../admit.ts';
import { chargeRate } from '../rate-limit-http.ts';
import type { AuditSink } from '../../audit/publisher.ts';
import { newId } from '../../runtime/ids.ts';
import { endRecord, firstTokenRecord, requestRecord, type AuditedRequest } from '../audit-records.ts';
import type { RateLimiter } from '../rate-limiter.ts';
import { schedulerInfo } from '../scheduler-info.ts';
import type { StreamClient } from '../stream-client.ts';

export interface OpenAiRouteDeps {
  readonly nc: NatsConnection;
  readonly streams: StreamClient;
  readonly options: Readonly<IngressOptions & { bodyLimit: number }>;
  /** While the bus is down, new requests wait for it (up to the accept timeout) instead of failing at once. */
  readonly bus: BusState;
  readonly metrics: IngressMetrics;
  /** Null: no key needed. */
  readonly apiKeys: ApiKeys | null;
  /** The `x-router-worker` value for a head's worker id(s); null: no header. */
  readonly workerHeader: (worker: string) => string | null;
  readonly admission: Admission;
  readonly limiter: RateLimiter;
  /** Where the request, first_token and end records go (NO_AUDIT when --audit off). */
  readonly audit: AuditSink;
}

function invalid(message: string, param: string): RouterError {
  const e = errors.LLMR_ERR_INVALID_REQUEST(message);
  e.param = param;
  return e;
}

/** Just enough validation to route; the worker (vLLM) validates the rest and its 400s pass through. */
export function checkBody(route: Route, raw: Buffer): Record<string, unknown> {
  if (!isUtf8(raw)) throw errors.LLMR_ERR_INVALID_UTF8();
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw errors.LLMR_ERR_INVALID_JSON((e as Error).message);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('The request body must be a JSON object.', 'body');
  const b = body as Record<string, unknown>;
  if (b.model === undefined || b.model === null) {
    const e = errors.LLMR_ERR_MISSING_MODEL();
    e.param = 'model';
    throw e;
  }
  // A lone surrogate could not travel in a subject token and come back as the same name.
  if (typeof b.model !== 'string' || b.model.length === 0 || b.model.length > 512 || !b.model.isWellFormed()) throw invalid('model must be a non-empty string of at most 512 characters.', 'model');
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') throw invalid('stream must be a boolean.', 'stream');
  if (route === 'chat') {
    if (!Array.isArray(b.messages)) throw invalid('messages must be a list of messages.', 'messages');
  } else if (typeof b.prompt !== 'string' && !Array.isArray(b.prompt)) {
    throw invalid('prompt must be a string or a list.', 'prompt');
  }
  return b;
}

/** A publish the bus refused: too large for it, or the bus is gone. */
function publishError(bodyLimit: number): (e: unknown) => RouterError {
  return (e) => {
    const msg = (e as Error).message ?? String(e);
    return /payload/i.test(msg) ? errors.LLMR_ERR_BODY_TOO_LARGE(String(bodyLimit)) : errors.LLMR_ERR_BUS_UNAVAILABLE(msg);
  };
}

/**
 * Client bytes travel untouched unless they carry fields only the router may set, or a priority
 * the client's key may not ask for (`changed`: the body was already edited).
 */
function forwardedBody(request: FastifyRequest, body: Record<string, unknown>, metrics: IngressMetrics, changed: boolean): Buffer {
  const stripped = stripRouterOwned(body);
  if (stripped.length === 0) return changed ? Buffer.from(JSON.stringify(body)) : (request.body as Buffer);
  request.log.info({ fields: stripped }, 'router-owned fields removed from the request body');
  for (const f of stripped) metrics.stripped(f);
  return Buffer.from(JSON.stringify(body));
}

/** A request header's (first) value, for the routing key, the bus headers and the audit record. */
function headerOf(request: FastifyRequest): (name: string) => string | undefined {
  return (name) => {
    const v = request.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
}

/** The request's metadata as the NATS headers it travels with. */
function busHeaders(request: FastifyRequest, route: Route, body: Record<string, unknown>, o: { stream: boolean; deadline: number; region: string; priority: number; auditId: string | null }): MsgHdrs {
  const header = headerOf(request);
  return natsHeaders(
    encodeRequestMeta({
      requestId: request.id,
      route,
      stream: o.stream,
      routingKey: routingKey(header, body),
      deadline: o.deadline,
      region: o.region,
      traceparent: header('traceparent') ?? null,
      priority: o.priority,
      auditId: o.auditId,
    }),
  );
}

/**
 * Adds `bindings` to every later line of the request's logger. fastify already made a pino child
 * for the request (with its reqId): the bindings go on it rather than on a second child per request.
 */
function nameOnLog(request: FastifyRequest, bindings: Record<string, string>): void {
  const log = request.log as FastifyBaseLogger & Partial<Pick<Logger, 'setBindings'>>;
  if (log.setBindings) log.setBindings(bindings);
  else request.log = request.log.child(bindings);
}

function auditedRequest(request: FastifyRequest, o: Pick<IngressOptions, 'region' | 'id'>, model: string, route: Route, stream: boolean, priority: number, payload: Buffer): AuditedRequest {
  return {
    id: newId(),
    requestId: request.id,
    region: o.region,
    ingress: o.id,
    apiKey: request.apiKeyName,
    model,
    route: ROUTES[route],
    stream,
    priority,
    header: headerOf(request),
    body: payload,
  };
}

/** Register with `{ prefix: '/v1', ...deps }`, never through fastify-plugin (that would lift the key check out of its scope). */
export const openAiPlugin: FastifyPluginAsync<OpenAiRouteDeps> = async (app: FastifyInstance, deps: OpenAiRouteDeps) => {
  const keys = deps.apiKeys;
  if (keys) {
    app.addHook('onRequest', async (request) => {
      const key = keys.entry(bearerToken(request.headers.authorization));
      if (key === null) throw errors.LLMR_ERR_INVALID_API_KEY();
      request.apiKeyName = key.name;
      request.bestPriority = key.bestPriority;
      if (key.limits.rpm !== null || key.limits.tpm !== null) request.rateLimits = key.limits;
      nameOnLog(request, { apiKey: key.name });
    });
  }
  app.setNotFoundHandler(notFoundHandler(deps.metrics));
  const o = deps.options;
  const anonymousLimits = o.anonymousRpm !== null || o.anonymousTpm !== null ? { rpm: o.anonymousRpm, tpm: o.anonymousTpm } : null;

  const generate = (route: Route) => async (request: FastifyRequest, reply: FastifyReply) => {
    const body = checkBody(route, request.body as Buffer);
    const { priority, clamped } = requestPriority(body, request.bestPriority);
    if (clamped) {
      request.log.info({ asked: body.priority, priority }, "priority above the key's grant: lowered");
      body.priority = priority;
    }
    const payload = forwardedBody(request, body, deps.metrics, clamped);
    // Anonymous clients are told apart by address: a flood from one must not starve the others.
    // (Read only when a limit or the queue needs it: resolving the address is not free.)
    const flow = (): string => request.apiKeyName ?? `ip:${request.ip}`;
    const limits = request.apiKeyName !== null ? request.rateLimits : anonymousLimits;
    let headers: Record<string, string> = {};
    if (limits) {
      const what = request.apiKeyName !== null ? 'API key' : 'client address';
      headers = await chargeRate(deps.limiter, { name: flow(), label: request.apiKeyName ?? '', what }, limits, body, reply, deps.metrics);
      void reply.headers(headers);
    }
    if (!deps.admission.enabled) return relayed(request, reply, route, body, payload, priority, headers);
    const slot = await admit(deps.admission, flow(), priority, reply.raw, deps.metrics);
    if (slot === null) {
      // The client left while queued: nothing to answer.
      deps.metrics.error('LLMR_ERR_CLIENT_CLOSED');
      void reply.hijack();
      return reply;
    }
    try {
      return await relayed(request, reply, route, body, payload, priority, headers);
    } finally {
      slot.release();
    }
  };

  const relayed = async (
    request: FastifyRequest,
    reply: FastifyReply,
    route: Route,
    body: Record<string, unknown>,
    payload: Buffer,
    priority: number,
    headers: Readonly<Record<string, string>>,
  ): Promise<FastifyReply> => {
    if (!deps.bus.up && !(await deps.bus.whenUp(deps.options.acceptTimeoutMs))) throw errors.LLMR_ERR_BUS_UNAVAILABLE('not connected');
    const model = body.model as string;
    request.llmModel = model;
    // Bodies are never logged unless the operator asks (--log-bodies); then at most 64 KiB.
    if (deps.options.logBodies) request.log.info({ model, body: (request.body as Buffer).subarray(0, 65_536).toString('utf8') }, 'request body');
    const stream = body.stream === true;
    const deadline = Date.now() + deps.options.requestTimeoutMs;
    const audited = deps.options.audit !== 'off';
    // Nothing is served that cannot be recorded (--audit required).
    if (!deps.audit.accepting) {
      const e = errors.LLMR_ERR_AUDIT_UNAVAILABLE();
      e.retryAfterS = 1;
      throw e;
    }
    const a = audited ? auditedRequest(request, deps.options, model, route, stream, priority, payload) : null;
    if (a) deps.audit.record(requestRecord(a, deps.options.auditBodies, Date.now()));
    const meta = busHeaders(request, route, body, { stream, deadline, region: deps.options.region, priority, auditId: a?.id ?? null });
    const subject = subjects.request(model);
    const relay = new ResponseRelay(
      reply.raw,
      { requestId: request.id, stream, route: ROUTES[route], model, startedAt: request.startedAt, deadline, headers },
      {
        submit: (id, handlers) => deps.streams.submit(id, handlers, subject, payload, meta, publishError(deps.options.bodyLimit)),
        cancel: (id) => deps.streams.cancel(id),
        hijack: () => reply.hijack(),
        bus: deps.bus,
        metrics: deps.metrics,
        log: request.log,
        workerHeader: deps.workerHeader,
        acceptTimeoutMs: deps.options.acceptTimeoutMs,
        maxBufferedBytes: deps.options.maxBufferedBytes,
        ...(a ? { onFirstByte: (ms: number) => deps.audit.record(firstTokenRecord(a, ms, Date.now())) } : {}),
      },
    );
    const err = await relay.run();
    if (a) {
      const status = err ? err.statusCode : reply.raw.statusCode;
      deps.audit.record(endRecord(a, { outcome: relay.outcome, error: err, status, e2eMs: performance.now() - request.startedAt, at: Date.now() }));
    }
    if (err) {
      if (err.retryAfterS !== undefined) void reply.header('retry-after', String(err.retryAfterS));
      throw err;
    }
    return reply;
  };

  app.post('/chat/completions', generate('chat'));
  app.post('/completions', generate('completions'));

  app.get('/models', async () => {
    const info = await schedulerInfo(deps.nc);
    const created = Math.floor(Date.now() / 1000);
    return {
      object: 'list',
      data: info.models.map((m) => ({ id: m.id, object: 'model', created, owned_by: 'llm-router', workers: m.workers })),
    };
  });
};
