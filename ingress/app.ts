// Builds the ingress's fastify app from validated options: request ids, the JSON body parser
// that keeps the client's bytes, the OpenAI and health routes, and one error handler that turns
// every failure into an OpenAI-shaped body with its status.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { newId } from '../runtime/ids.ts';
import { errors } from '../proto/errors.ts';
import { openAiError } from '../proto/openai-error.ts';
import { REQUEST_ID } from '../proto/request-meta.ts';
import { toRouterError } from './errors.ts';
import type { IngressOptions } from './options.ts';
import { adminRoutes } from './routes/admin.ts';
import { healthRoutes } from './routes/health.ts';
import { openAiRoutes } from './routes/openai.ts';
import type { BusState } from '../runtime/bus-state.ts';
import type { IngressMetrics } from './metrics.ts';
import type { StreamClient } from './stream-client.ts';

export interface AppDeps {
  readonly options: Readonly<IngressOptions & { bodyLimit: number }>;
  readonly nc: NatsConnection;
  readonly streams: StreamClient;
  readonly log: Logger;
  readonly bus: BusState;
  /** True once a graceful stop began: new requests are refused, open streams finish. */
  readonly closing: () => boolean;
  readonly metrics: IngressMetrics;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the request arrived. */
    startedAt: number;
    /** The model the request named, once known (for metrics labels). */
    llmModel: string | null;
  }
}

/** The route template a request matched, or `unmatched` (bounded label values). */
export function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? 'unmatched';
}

const KNOWN_ROUTES: Record<string, readonly string[]> = {
  '/v1/chat/completions': ['POST'],
  '/v1/completions': ['POST'],
  '/v1/models': ['GET'],
  '/health': ['GET'],
  '/readiness': ['GET'],
  '/metrics': ['GET'],
};

export function buildApp(d: AppDeps): FastifyInstance {
  const o = d.options;
  const app = Fastify({
    loggerInstance: d.log as FastifyBaseLogger,
    // Request start/end lines are not logged: per-request logging is ours, with the request id.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: o.bodyLimit,
    requestTimeout: o.clientTimeoutMs,
    // Node checks request timeouts every 30 s by default, too coarse for a slowloris guard; and it
    // only enforces requestTimeout when headersTimeout is not larger.
    http: { connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(o.clientTimeoutMs / 4))), headersTimeout: o.clientTimeoutMs },
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
    if (request.url === '/metrics') return; // scrapes are not traffic
    d.metrics.request(routeOf(request), request.method, reply.statusCode, request.llmModel, (performance.now() - request.startedAt) / 1000);
  });

  app.setErrorHandler((err, request, reply) => {
    const e = toRouterError(err, o.bodyLimit);
    d.metrics.error(e.code);
    if (e.statusCode >= 500) request.log.error({ err, code: e.code }, e.message);
    else request.log.info({ code: e.code, status: e.statusCode }, e.message);
    if (e.retryAfterS !== undefined) void reply.header('retry-after', String(e.retryAfterS));
    return reply.code(e.statusCode).send(openAiError(e));
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0] ?? '/';
    const allowed = KNOWN_ROUTES[path];
    const e = allowed ? errors.LLMR_ERR_METHOD_NOT_ALLOWED(request.method, path) : errors.LLMR_ERR_ROUTE_NOT_FOUND(request.method, path);
    if (allowed) void reply.header('allow', allowed.join(', '));
    d.metrics.error(e.code);
    return reply.code(e.statusCode).send(openAiError(e));
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await d.metrics.registry.metrics();
    return reply.type(d.metrics.registry.contentType).send(text);
  });

  openAiRoutes(app, { nc: d.nc, streams: d.streams, options: o, bus: d.bus, metrics: d.metrics });
  healthRoutes(app, { nc: d.nc, bus: d.bus });
  adminRoutes(app, { nc: d.nc, token: o.adminToken ?? null, gatherMs: 300 });
  return app;
}
