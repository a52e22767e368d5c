// Reads token counts from an answer as it passes, without parsing every event: the last
// `usage` object (JSON bodies, and SSE streams with include_usage), else for streams the number
// of events that carry a choice (vLLM streams one token per event by default). Pure.
import type { Usage } from '../proto/stream.ts';

const USAGE = /"usage"\s*:\s*\{[^{}]*"prompt_tokens"\s*:\s*(\d+)[^{}]*?"completion_tokens"\s*:\s*(\d+)(?:[^{}]*"prompt_tokens_details"\s*:\s*\{[^{}]*"cached_tokens"\s*:\s*(\d+))?/;

export class UsageScanner {
  readonly #sse: boolean;
  readonly #decoder = new TextDecoder();
  /** SSE: the incomplete event at the end of what was seen. JSON: the whole body so far. */
  #pending = '';
  #events = 0;
  #usage: Usage | null = null;

  constructor(sse: boolean) {
    this.#sse = sse;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#pending += this.#decoder.decode(chunk, { stream: true });
    if (!this.#sse) return;
    let cut = this.#pending.indexOf('\n\n');
    while (cut >= 0) {
      this.#event(this.#pending.slice(0, cut));
      this.#pending = this.#pending.slice(cut + 2);
      cut = this.#pending.indexOf('\n\n');
    }
  }

  #event(e: string): void {
    if (e.includes('"choices":[{')) this.#events++;
    if (e.includes('"usage"')) this.#read(e);
  }

  #read(text: string): void {
    const m = USAGE.exec(text);
    if (m) this.#usage = { promptTokens: Number(m[1]), completionTokens: Number(m[2]), ...(m[3] !== undefined ? { cachedTokens: Number(m[3]) } : {}) };
  }

  usage(): Usage | null {
    if (!this.#sse && this.#pending.includes('"usage"')) this.#read(this.#pending);
    if (this.#usage) return this.#usage;
    if (this.#sse && this.#events > 0) return { promptTokens: 0, completionTokens: this.#events };
    return null;
  }
}
