// The OpenAI routes: POST /v1/chat/completions and /v1/completions (JSON or SSE), GET /v1/models.
// A request is checked just enough to route it (JSON object, a model, the fields' basic types),
// published on llm.v1.req.<model> with its bytes untouched (unless it carried router-owned
// fields, which are removed), and answered from the stream protocol: an error before the head
// becomes a normal error reply; after it, the worker's bytes are written as they come, with
// bounded buffering for slow readers.
//
// A fastify plugin, registered encapsulated under /v1: with API keys configured its key check is
// a hook of these routes (and of its own not-found handler), so every /v1 request passes it.
import { isUtf8 } from 'node:buffer';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { newId } from '../../runtime/ids.ts';
import { errors, type RouterError } from '../../proto/errors.ts';
import { openAiError } from '../../proto/openai-error.ts';
import { encodeRequestMeta, type Route } from '../../proto/request-meta.ts';
import type { Frame } from '../../proto/stream.ts';
import { subjects } from '../../proto/subjects.ts';
import { natsHeaders } from '../../runtime/nats.ts';
import type { BusState } from '../../runtime/bus-state.ts';
import { bearerToken, type ApiKeys } from '../api-keys.ts';
import type { IngressMetrics } from '../metrics.ts';
import { notFoundHandler } from '../not-found.ts';
import type { IngressOptions } from '../options.ts';
import { stripRouterOwned } from '../router-owned.ts';
import { routingKey } from '../routing-key.ts';
import { schedulerInfo } from '../scheduler-info.ts';
import { isNoResponders, type StreamClient } from '../stream-client.ts';

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
  if (typeof b.model !== 'string' || b.model.length === 0 || b.model.length > 512 || !b.model.isWellFormed())
    throw invalid('model must be a non-empty string of at most 512 characters.', 'model');
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') throw invalid('stream must be a boolean.', 'stream');
  if (route === 'chat') {
    if (!Array.isArray(b.messages)) throw invalid('messages must be a list of messages.', 'messages');
  } else if (typeof b.prompt !== 'string' && !Array.isArray(b.prompt)) {
    throw invalid('prompt must be a string or a list.', 'prompt');
  }
  return b;
}

function sseError(e: RouterError): string {
  return `data: ${JSON.stringify(openAiError(e))}\n\ndata: [DONE]\n\n`;
}

/** Register with `{ prefix: '/v1', ...deps }`, never through fastify-plugin (that would lift the key check out of its scope). */
export const openAiPlugin: FastifyPluginAsync<OpenAiRouteDeps> = async (app: FastifyInstance, deps: OpenAiRouteDeps) => {
  const keys = deps.apiKeys;
  if (keys) {
    app.addHook('onRequest', async (request) => {
      const name = keys.match(bearerToken(request.headers.authorization));
      if (name === null) throw errors.LLMR_ERR_INVALID_API_KEY();
      request.apiKeyName = name;
      request.log = request.log.child({ apiKey: name });
    });
  }
  app.setNotFoundHandler(notFoundHandler(deps.metrics));

  const generate = (route: Route) => async (request: FastifyRequest, reply: FastifyReply) => {
    const body = checkBody(route, request.body as Buffer);
    // Client bytes travel untouched unless they carry fields only the router may set.
    let payload = request.body as Buffer;
    const stripped = stripRouterOwned(body);
    if (stripped.length > 0) {
      payload = Buffer.from(JSON.stringify(body));
      request.log.info({ fields: stripped }, 'router-owned fields removed from the request body');
      for (const f of stripped) deps.metrics.stripped(f);
    }
    if (!deps.bus.up && !(await deps.bus.whenUp(deps.options.acceptTimeoutMs))) throw errors.LLMR_ERR_BUS_UNAVAILABLE('not connected');
    const model = body.model as string;
    request.llmModel = model;
    // Bodies are never logged unless the operator asks (--log-bodies); then at most 64 KiB.
    if (deps.options.logBodies) request.log.info({ model, body: (request.body as Buffer).subarray(0, 65_536).toString('utf8') }, 'request body');
    const stream = body.stream === true;
    const routeLabel = route === 'chat' ? '/v1/chat/completions' : '/v1/completions';
    const requestId = request.id;
    let streamId = '';
    /** Times the request went back on the bus after its scheduler failed before answering. */
    let resubmits = 0;
    /** Waits for a scheduler to subscribe (NATS said "no responders"), bounded by the accept timeout. */
    let waits = 0;
    const acceptBy = performance.now() + deps.options.acceptTimeoutMs;
    const deadline = Date.now() + deps.options.requestTimeoutMs;
    const raw = reply.raw;
    const log = request.log;

    let headWritten = false;
    let finished = false;
    let lastWrite = 0;
    let settleFirst!: (err: RouterError | null) => void;
    const first = new Promise<RouterError | null>((r) => (settleFirst = r));
    let settleDone!: () => void;
    const done = new Promise<void>((r) => (settleDone = r));
    const finish = (): void => {
      if (finished) return;
      finished = true;
      settleDone();
    };

    const endWithError = (e: RouterError): void => {
      log.warn({ err: e.message, code: e.code }, 'stream ended with an error');
      deps.metrics.error(e.code);
      // Only streams reach here with their head written; SSE can say why it ends.
      raw.end(sseError(e));
      finish();
    };

    const writeHead = (h: Extract<Frame, { kind: 'head' }>): void => {
      log.debug({ workerId: h.worker, status: h.status, stream }, 'answer started');
      reply.hijack();
      // Which worker (or prefill,decode pair) answered, as --worker-header says to show it.
      const worker = h.worker ? deps.workerHeader(h.worker) : null;
      raw.writeHead(h.status, {
        'content-type': h.contentType,
        'x-request-id': requestId,
        ...(worker ? { 'x-router-worker': worker } : {}),
        ...(stream ? { 'cache-control': 'no-cache', 'x-accel-buffering': 'no' } : {}),
      });
      headWritten = true;
      settleFirst(null);
    };
    // A JSON answer is held until its end frame: a failure before then still gets a clean error
    // reply instead of a body cut short (schedulers send JSON answers whole, so this is brief).
    let held: { head: Extract<Frame, { kind: 'head' }>; chunks: Uint8Array[] } | null = null;

    const onFrame = (f: Frame): void => {
      switch (f.kind) {
        case 'accepted':
          return;
        case 'head':
          if (stream) writeHead(f);
          else held = { head: f, chunks: [] };
          return;
        case 'data': {
          if (held) {
            held.chunks.push(f.data);
            return;
          }
          if (!headWritten || finished) return;
          const now = performance.now();
          if (lastWrite === 0) deps.metrics.firstByte(routeLabel, model, (now - request.startedAt) / 1000);
          else deps.metrics.chunkGap(routeLabel, model, (now - lastWrite) / 1000);
          lastWrite = now;
          if (!raw.write(f.data) && raw.writableLength > deps.options.maxBufferedBytes) {
            deps.streams.cancel(streamId);
            log.warn({ buffered: raw.writableLength }, 'client reads too slowly: request cancelled');
            deps.metrics.error('LLMR_ERR_SLOW_CLIENT');
            raw.destroy();
            finish();
          }
          return;
        }
        case 'end':
          if (held) {
            const h = held;
            held = null;
            if (f.error && f.error.code !== 'LLMR_ERR_CLIENT_CLOSED') {
              settleFirst(f.error);
              return;
            }
            writeHead(h.head);
            deps.metrics.firstByte(routeLabel, model, (performance.now() - request.startedAt) / 1000);
            raw.end(Buffer.concat(h.chunks));
            finish();
            return;
          }
          if (!headWritten) {
            settleFirst(errors.LLMR_ERR_UPSTREAM_PROTOCOL('stream ended before its head'));
            return;
          }
          if (f.error && f.error.code !== 'LLMR_ERR_CLIENT_CLOSED') endWithError(f.error);
          else {
            raw.end();
            finish();
          }
          return;
        case 'error':
          if (!headWritten) settleFirst(f.error);
          else endWithError(f.error);
      }
    };

    raw.on('close', () => {
      if (finished || raw.writableFinished) return;
      deps.streams.cancel(streamId);
      log.info('client closed the connection: request cancelled');
      deps.metrics.error('LLMR_ERR_CLIENT_CLOSED');
      finish();
      settleFirst(errors.LLMR_ERR_CLIENT_CLOSED());
    });

    const header = (name: string): string | undefined => {
      const v = request.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const meta = natsHeaders(
      encodeRequestMeta({
        requestId,
        route,
        stream,
        routingKey: routingKey(header, body),
        deadline,
        region: deps.options.region,
        traceparent: header('traceparent') ?? null,
      }),
    );
    /** Puts the request on the bus under a new stream id; throws coded errors. */
    const submit = (): void => {
      streamId = newId();
      const id = streamId;
      const handlers = {
        frame: onFrame,
        fail: (e: RouterError) => {
          if (id !== streamId) return;
          if (!headWritten && !finished && resubmittable(e)) void resubmit(e);
          else if (!headWritten) settleFirst(e);
          else if (!finished) endWithError(e);
        },
      };
      deps.streams.submit(id, handlers, subjects.request(model), payload, meta, (e) => {
        const msg = (e as Error).message ?? String(e);
        return /payload/i.test(msg) ? errors.LLMR_ERR_BODY_TOO_LARGE(String(deps.options.bodyLimit)) : errors.LLMR_ERR_BUS_UNAVAILABLE(msg);
      });
    };
    /**
     * Nothing reached the client yet and the failure was the router's (its scheduler died, the
     * bus dropped): the body is still here, so the request goes back on the bus — to another
     * replica, once the bus is up — instead of failing. Twice at most, within the deadline.
     */
    const resubmittable = (e: RouterError): boolean =>
      isNoResponders(e)
        ? performance.now() < acceptBy
        : (e.code === 'LLMR_ERR_STREAM_BROKEN' || e.code === 'LLMR_ERR_BUS_UNAVAILABLE') && resubmits < 2 && Date.now() < deadline - deps.options.acceptTimeoutMs;
    const resubmit = async (cause: RouterError): Promise<void> => {
      if (isNoResponders(cause)) {
        // No scheduler subscribed this instant (they re-subscribe a moment after a reconnect, or
        // are restarting): try again shortly, until the accept timeout says there is none.
        waits++;
        const pause = Math.min(acceptBy - performance.now(), Math.random() * Math.min(500, 25 * 2 ** waits));
        if (waits === 1) log.info('no scheduler subscribed yet: waiting for one');
        await new Promise((r) => setTimeout(r, Math.max(0, pause)));
        if (finished) return;
        if (performance.now() >= acceptBy) return settleFirst(cause);
      } else {
        resubmits++;
        log.warn({ code: cause.code, resubmits }, 'scheduler lost before answering: resubmitting');
      }
      if (!deps.bus.up && !(await deps.bus.whenUp(deps.options.acceptTimeoutMs))) return settleFirst(cause);
      if (finished) return;
      try {
        submit();
      } catch (e) {
        settleFirst(e as RouterError);
      }
    };
    submit();

    const err = await first;
    if (err) {
      if (err.code === 'LLMR_ERR_CLIENT_CLOSED') return reply.hijack();
      finished = true;
      if (err.retryAfterS !== undefined) void reply.header('retry-after', String(err.retryAfterS));
      throw err;
    }
    await done;
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
