// Builds the ingress's fastify app from validated options: request ids, the JSON body parser
// that keeps the client's bytes, the OpenAI and health routes, and one error handler that turns
// every failure into an OpenAI-shaped body with its status. Each guarded group of routes (the
// OpenAI API behind API keys, the fleet API behind the admin token) is its own encapsulated
// plugin with its check as a hook inside: a route carries its guard, whatever URL reached it.
// Metrics are not served here (see server.ts): the public port is for clients only.
import { STATUS_CODES, type Server, type ServerOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyHttpOptions, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { newId } from '../runtime/ids.ts';
import { errors } from '../proto/errors.ts';
import { openAiError } from '../proto/openai-error.ts';
import { REQUEST_ID } from '../proto/request-meta.ts';
import { toRouterError } from './errors.ts';
import type { IngressOptions } from './options.ts';
import { adminPlugin } from './routes/admin.ts';
import { healthRoutes } from './routes/health.ts';
import { openAiPlugin } from './routes/openai.ts';
import type { AuditSink } from '../audit/publisher.ts';
import type { Admission } from './admission.ts';
import type { KeyLimits, RateLimiter } from './rate-limiter.ts';
import type { ApiKeys } from './api-keys.ts';
import { notFoundHandler } from './not-found.ts';
import type { BusState } from '../runtime/bus-state.ts';
import type { IngressMetrics } from './metrics.ts';
import type { StreamClient } from './stream-client.ts';

export interface AppDeps {
  readonly options: Readonly<IngressOptions & { bodyLimit: number }>;
  readonly nc: NatsConnection;
  /** The fleet API's connection (its own NATS user); absent: `nc`. */
  readonly adminNc?: NatsConnection | undefined;
  readonly streams: StreamClient;
  readonly log: Logger;
  readonly bus: BusState;
  /** True once a graceful stop began: new requests are refused, open streams finish. */
  readonly closing: () => boolean;
  readonly metrics: IngressMetrics;
  /** Null: /v1/* is open to anyone who reaches the port. */
  readonly apiKeys: ApiKeys | null;
  /** The `x-router-worker` value for a scheduler's worker id(s); null: no header. */
  readonly workerHeader: (worker: string) => string | null;
  /** PEM certificate and key: serve HTTPS only. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | null;
  /** --max-concurrent-requests and its queue. */
  readonly admission: Admission;
  /** The per-minute limits' fleet-wide counters. */
  readonly limiter: RateLimiter;
  /** Audit records (NO_AUDIT when --audit off). */
  readonly audit: AuditSink;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the request arrived. */
    startedAt: number;
    /** The model the request named, once known (for metrics labels). */
    llmModel: string | null;
    /** The name of the API key the request was admitted with (never the key). */
    apiKeyName: string | null;
    /** The most urgent priority the request may ask for (its key's grant; 0 without one). */
    bestPriority: number;
    /** Its API key's per-minute limits (null: none, or no key). */
    rateLimits: KeyLimits | null;
  }
}

/** The route template a request matched, or `unmatched` (bounded label values). */
export function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? 'unmatched';
}

export function buildApp(d: AppDeps): FastifyInstance {
  const o = d.options;
  // Node checks request timeouts every 30 s by default, too coarse for a slowloris guard; and it
  // only enforces requestTimeout when headersTimeout is not larger.
  const tuning: ServerOptions = { connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(o.clientTimeoutMs / 4))), headersTimeout: o.clientTimeoutMs };
  // With `https` fastify builds an https.Server (an http.Server with TLS in front, to everything
  // here) and ignores `http`, so the tuning goes with the certificate. Plain HTTP to a TLS port
  // fails the handshake and gets no HTTP answer.
  const server = d.tls ? { https: { ...tuning, cert: d.tls.cert, key: d.tls.key } } : { http: tuning };
  const app = Fastify({
    ...(server as FastifyHttpOptions<Server>),
    loggerInstance: d.log as FastifyBaseLogger,
    // Request start/end lines are not logged: per-request logging is ours, with the request id.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: o.bodyLimit,
    requestTimeout: o.clientTimeoutMs,
    // Errors before a request exists (oversized headers, a body that never finishes, broken HTTP)
    // still get an OpenAI-shaped body.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const e =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? errors.LLMR_ERR_REQUEST_TIMEOUT()
          : err.code === 'HPE_HEADER_OVERFLOW'
            ? errors.LLMR_ERR_HEADERS_TOO_LARGE()
            : errors.LLMR_ERR_INVALID_REQUEST(`malformed HTTP request (${err.code ?? 'unknown'})`);
      d.log.info({ code: e.code, cause: err.code }, e.message);
      const body = JSON.stringify(openAiError(e));
      if (!socket.writable) return void socket.destroy();
      socket.end(
        `HTTP/1.1 ${e.statusCode} ${STATUS_CODES[e.statusCode] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    },
    // While closing, new requests get our own 503 (the onRequest hook below), in OpenAI's shape.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    requestIdHeader: false,
    // The client's X-Request-Id when it is well-formed (checked in onRequest), else a ulid.
    genReqId: (req) => {
      const v = req.headers['x-request-id'];
      const id = Array.isArray(v) ? v[0] : v;
      return id !== undefined && id !== '' ? id : newId();
    },
  });

  app.removeAllContentTypeParsers();
  // Keep the bytes: the body is forwarded untouched, and parsed once by the route.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.decorateRequest('startedAt', 0);
  app.decorateRequest('llmModel', null);
  app.decorateRequest('apiKeyName', null);
  app.decorateRequest('bestPriority', 0);
  app.decorateRequest('rateLimits', null);
  app.addHook('onRequest', async (request, reply) => {
    request.startedAt = performance.now();
    if (d.closing()) throw errors.LLMR_ERR_SHUTTING_DOWN();
    if (!REQUEST_ID.test(request.id)) {
      request.id = newId();
      throw errors.LLMR_ERR_INVALID_REQUEST_ID('256');
    }
    void reply.header('x-request-id', request.id);
  });

  // Every answer, streamed (hijacked) ones included, is counted when it ends.
  app.addHook('onResponse', async (request, reply) => {
    d.metrics.request(routeOf(request), request.method, reply.statusCode, request.llmModel, request.apiKeyName, (performance.now() - request.startedAt) / 1000);
  });

  app.setErrorHandler((err, request, reply) => {
    const e = toRouterError(err, o.bodyLimit);
    d.metrics.error(e.code);
    if (e.statusCode >= 500) request.log.error({ err, code: e.code }, e.message);
    else request.log.info({ code: e.code, status: e.statusCode }, e.message);
    if (e.retryAfterS !== undefined) void reply.header('retry-after', String(e.retryAfterS));
    return reply.code(e.statusCode).send(openAiError(e));
  });

  app.setNotFoundHandler(notFoundHandler(d.metrics));

  void app.register(openAiPlugin, {
    prefix: '/v1',
    nc: d.nc,
    streams: d.streams,
    options: o,
    bus: d.bus,
    metrics: d.metrics,
    apiKeys: d.apiKeys,
    workerHeader: d.workerHeader,
    admission: d.admission,
    limiter: d.limiter,
    audit: d.audit,
  });
  healthRoutes(app, { nc: d.nc, bus: d.bus });
  void app.register(adminPlugin, { prefix: '/admin', nc: d.adminNc ?? d.nc, token: o.adminToken ?? null, gatherMs: 300 });
  return app;
}
