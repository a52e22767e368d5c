// The HTTP side of the per-key rate limits (rate-limiter.ts): which limits a request is under,
// what it costs in tokens, OpenAI's x-ratelimit-* headers on every answer under a limit, and a
// 429 LLMR_ERR_RATE_LIMITED with Retry-After past one.
import { createHash } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { errors } from '../proto/errors.ts';
import { promptTokens } from '../proto/prompt.ts';
import type { IngressMetrics } from './metrics.ts';
import { resetText, type Charge, type KeyLimits, type RateLimiter } from './rate-limiter.ts';

/** Output tokens counted for a request that sets no max_tokens (vLLM's own default is the rest of the context). */
export const DEFAULT_COUNTED_OUTPUT_TOKENS = 256;

/** What a request costs in tokens when it is admitted: its prompt (estimated) and the output it may ask for. */
export function countedTokens(body: Readonly<Record<string, unknown>>): number {
  const max = [body.max_tokens, body.max_completion_tokens].find((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) as number | undefined;
  return promptTokens(body) + (max ?? DEFAULT_COUNTED_OUTPUT_TOKENS);
}

/** A counter name for a flow: its key name or client address, hashed (addresses are personal data, and KV keys have a grammar). */
export function flowToken(flow: string): string {
  return createHash('sha256').update(flow).digest('hex').slice(0, 32);
}

export function rateHeaders(state: Charge['state']): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [kind, s] of Object.entries(state)) {
    h[`x-ratelimit-limit-${kind}`] = String(s.limit);
    h[`x-ratelimit-remaining-${kind}`] = String(s.remaining);
    h[`x-ratelimit-reset-${kind}`] = resetText(s.resetS);
  }
  return h;
}

/**
 * Charges the request to `flow`; the x-ratelimit-* headers to send with its answer. Past a limit,
 * throws LLMR_ERR_RATE_LIMITED with those headers already on `reply`.
 */
export async function chargeRate(
  limiter: RateLimiter,
  flow: { readonly name: string; readonly label: string; readonly what: 'API key' | 'client address' },
  limits: KeyLimits,
  body: Readonly<Record<string, unknown>>,
  reply: FastifyReply,
  metrics: Pick<IngressMetrics, 'rateLimited'>,
): Promise<Record<string, string>> {
  const c = await limiter.charge(flowToken(flow.name), limits, limits.tpm === null ? 0 : countedTokens(body));
  const headers = rateHeaders(c.state);
  if (c.ok) return headers;
  metrics.rateLimited(flow.label, c.kind);
  void reply.headers(headers);
  const e = errors.LLMR_ERR_RATE_LIMITED(c.kind, String(c.limit), flow.what, String(c.retryAfterS));
  e.retryAfterS = c.retryAfterS;
  throw e;
}
