// A decode worker that pulled its prompt's KV from a prefill worker reports those tokens as
// cached (vLLM counts KV loaded by a connector in `num_cached_tokens`). One vLLM serving the
// request whole would have reported only its own prefix-cache hits, which is what the prefill
// worker reported. This rewrites `usage.prompt_tokens_details.cached_tokens` in the decode
// answer — a JSON body, or the SSE events that carry usage — to the prefill worker's figure,
// passing every other byte through untouched. Events may arrive split across chunks.

const CACHED = /("prompt_tokens_details"\s*:\s*\{[^{}]*"cached_tokens"\s*:\s*)(\d+)/g;

/** Rewrites every usage in a JSON text (a whole body, or SSE events). */
export function rewriteCached(text: string, cachedTokens: number): string {
  return text.replace(CACHED, (_m, head: string) => `${head}${cachedTokens}`);
}

/** Streams SSE through, rewriting the events that carry usage. */
export class SseUsageRewriter {
  readonly #cached: number;
  #pending = '';
  readonly #decoder = new TextDecoder();
  readonly #encoder = new TextEncoder();

  constructor(cachedTokens: number) {
    this.#cached = cachedTokens;
  }

  /** Returns the bytes that can go out now (whole events); holds back a partial event. */
  push(chunk: Uint8Array): Uint8Array {
    const text = this.#pending + this.#decoder.decode(chunk, { stream: true });
    const cut = text.lastIndexOf('\n\n');
    if (cut < 0) {
      this.#pending = text;
      return new Uint8Array(0);
    }
    this.#pending = text.slice(cut + 2);
    const ready = text.slice(0, cut + 2);
    return this.#encoder.encode(ready.includes('"cached_tokens"') ? rewriteCached(ready, this.#cached) : ready);
  }

  /** Whatever is left at the end of the stream. */
  flush(): Uint8Array {
    const rest = this.#pending + this.#decoder.decode();
    this.#pending = '';
    return this.#encoder.encode(rest.includes('"cached_tokens"') ? rewriteCached(rest, this.#cached) : rest);
  }
}

/** Holds a JSON body back and rewrites its usage at the end (a JSON answer is small). */
export class JsonUsageRewriter {
  readonly #cached: number;
  readonly #parts: Uint8Array[] = [];

  constructor(cachedTokens: number) {
    this.#cached = cachedTokens;
  }

  push(chunk: Uint8Array): Uint8Array {
    this.#parts.push(chunk);
    return new Uint8Array(0);
  }

  flush(): Uint8Array {
    return new TextEncoder().encode(rewriteCached(Buffer.concat(this.#parts).toString('utf8'), this.#cached));
  }
}

/** The rewriter for an answer of `contentType`. */
export function usageRewriter(contentType: string, cachedTokens: number): SseUsageRewriter | JsonUsageRewriter {
  return /^text\/event-stream/.test(contentType) ? new SseUsageRewriter(cachedTokens) : new JsonUsageRewriter(cachedTokens);
}
