// One accepted request as dispatch sees it, and its prompt's features: the body is parsed at most
// once, and only when something (the P/D decider, a prefix-reading policy) reads it.
import type { RequestMeta } from '../proto/request-meta.ts';
import type { PrefixIndex } from './prefix-index.ts';
import { CHARS_PER_TOKEN, promptText, promptTokens } from '../proto/prompt.ts';

export interface DispatchRequest {
  readonly model: string;
  readonly meta: RequestMeta;
  readonly body: Uint8Array;
  /** Aborted when the client cancels (or the deadline passes). */
  readonly signal: AbortSignal;
  /**
   * The id workers see as X-Request-Id: the router's own, unique per submission. The client's
   * X-Request-Id stays in `meta` for logs and the answer's header; sent to a worker it could
   * collide with another client's, and P2P-NCCL parses KV peer addresses out of it.
   */
  readonly workerRequestId: string;
}

/** A request with its prompt's features, each computed at most once and only when something reads it. */
export interface PreparedRequest extends DispatchRequest {
  /** The body as JSON; null when it is not JSON. Parsed once for everything that reads it. */
  readonly json: () => Record<string, unknown> | null;
  /** The prompt's block-hash chain for the prefix index. */
  readonly prefixChain: () => readonly bigint[];
  /** The prompt's length in tokens, from the parsed body. */
  readonly promptTokens: () => number;
  /** The prompt's length if the body was parsed already, else an estimate from its size (no parse). */
  readonly promptTokensEstimate: () => number;
}

function parseBody(body: Uint8Array): Record<string, unknown> | null {
  try {
    return JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export function prepare(prefix: PrefixIndex, r: DispatchRequest): PreparedRequest {
  let parsed: { body: Record<string, unknown> | null; text: string; tokens: number } | null = null;
  let chain: readonly bigint[] | null = null;
  const parse = (): { body: Record<string, unknown> | null; text: string; tokens: number } => {
    if (parsed === null) {
      const body = parseBody(r.body);
      const text = promptText(body ?? {}); // not JSON: no prompt, no prefix
      parsed = { body, text, tokens: promptTokens(body ?? {}, text) };
    }
    return parsed;
  };
  return {
    ...r,
    json: () => parse().body,
    prefixChain: () => (chain ??= prefix.chain(parse().text)),
    promptTokens: () => parse().tokens,
    // The body is mostly its prompt: its size is a fair estimate when nothing has parsed it.
    promptTokensEstimate: () => parsed?.tokens ?? Math.ceil(r.body.length / CHARS_PER_TOKEN),
  };
}
