// Answers for requests no route takes: 405 with `Allow` when the path exists under another
// method, else 404; OpenAI-shaped and counted. Shared by the root and the /v1 scope (where it
// runs behind the API-key check, so that unknown /v1 paths say nothing to callers without a key).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../proto/errors.ts';
import { openAiError } from '../proto/openai-error.ts';
import type { IngressMetrics } from './metrics.ts';

const KNOWN_ROUTES: Record<string, readonly string[]> = {
  '/v1/chat/completions': ['POST'],
  '/v1/completions': ['POST'],
  '/v1/models': ['GET'],
  '/health': ['GET'],
  '/readiness': ['GET'],
};

export function notFoundHandler(metrics: IngressMetrics) {
  return (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?', 1)[0] ?? '/';
    const allowed = KNOWN_ROUTES[path];
    const e = allowed ? errors.LLMR_ERR_METHOD_NOT_ALLOWED(request.method, path) : errors.LLMR_ERR_ROUTE_NOT_FOUND(request.method, path);
    if (allowed) void reply.header('allow', allowed.join(', '));
    metrics.error(e.code);
    return reply.code(e.statusCode).send(openAiError(e));
  };
}
