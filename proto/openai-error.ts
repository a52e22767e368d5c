// OpenAI-shaped error bodies: {"error": {"message", "type", "param", "code"}}. Our `code` is the
// router's LLMR_ERR_* code, so a client or an operator can tell which rule answered.
import type { RouterError } from './errors.ts';

export interface OpenAiErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: string;
    readonly param: string | null;
    readonly code: string | null;
  };
}

export function openAiError(e: Pick<RouterError, 'message' | 'type' | 'code'> & { param?: string | null | undefined }): OpenAiErrorBody {
  return { error: { message: e.message, type: e.type, param: e.param ?? null, code: e.code } };
}

/**
 * Reads an error body a worker sent: vLLM's nested shape ({"error": {...}}, `code` an integer
 * status) or its older flat shape ({"object": "error", "message", ...}). Null when neither.
 */
export function readWorkerError(body: unknown): { message: string; type: string; param: string | null } | null {
  if (typeof body !== 'object' || body === null) return null;
  const o = body as Record<string, unknown>;
  const inner = typeof o.error === 'object' && o.error !== null ? (o.error as Record<string, unknown>) : o.object === 'error' ? o : null;
  if (!inner || typeof inner.message !== 'string') return null;
  return {
    message: inner.message,
    type: typeof inner.type === 'string' ? inner.type : 'server_error',
    param: typeof inner.param === 'string' ? inner.param : null,
  };
}
