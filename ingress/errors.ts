// Maps any error that reaches fastify's error handler to a coded router error, so that every
// failure leaves as an OpenAI-shaped body with the right status.
import { errors, isRouterError, type RouterError } from '../proto/errors.ts';

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: unknown;
}

export function toRouterError(e: unknown, bodyLimit: number): RouterError {
  if (isRouterError(e)) return e;
  const f = (e ?? {}) as FastifyLikeError;
  switch (f.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return errors.LLMR_ERR_BODY_TOO_LARGE(String(bodyLimit));
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return errors.LLMR_ERR_UNSUPPORTED_MEDIA_TYPE(String(f.message ?? '').replace(/^Unsupported Media Type:\s*/, '') || 'none');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return errors.LLMR_ERR_INVALID_JSON(f.message ?? 'empty body');
  }
  if (f.validation !== undefined) return errors.LLMR_ERR_INVALID_REQUEST(f.message ?? 'invalid request');
  const status = f.statusCode ?? 500;
  if (status === 408) return errors.LLMR_ERR_REQUEST_TIMEOUT();
  if (status === 431) return errors.LLMR_ERR_HEADERS_TOO_LARGE();
  if (status >= 400 && status < 500) return errors.LLMR_ERR_INVALID_REQUEST(f.message ?? 'invalid request');
  return errors.LLMR_ERR_INTERNAL(f.message ?? String(e));
}
