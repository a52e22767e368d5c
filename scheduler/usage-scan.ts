// Reads token counts from an answer as it passes, on bytes, without decoding the stream: the last
// `usage` object (JSON bodies, and SSE streams with include_usage), else for streams the number of
// events that carry a choice (vLLM streams one token per event by default). Only the bytes from a
// `"usage"` marker to the end of its object are turned into a string; per answer the state is a
// few dozen bytes.
import type { Usage } from '../proto/stream.ts';

/** A whole usage object (one level of nesting: prompt_tokens_details), closed. */
const USAGE_RE = /"usage"\s*:\s*(\{(?:[^{}]|\{[^{}]*\})*\})/;
const CHOICE = Buffer.from('"choices":[{');
const USAGE = Buffer.from('"usage"');
/** Enough of the previous chunk's end to see a marker cut in two. */
const TAIL = Math.max(CHOICE.length, USAGE.length) - 1;
/** A usage object is small; text collected past this without a match is given up. */
const MAX_COLLECT = 8192;

export class UsageScanner {
  readonly #sse: boolean;
  readonly #tail = Buffer.alloc(TAIL);
  #tailLen = 0;
  #events = 0;
  #usage: Usage | null = null;
  /** Text from a `"usage"` marker on, until its object has been read. */
  #collect: string | null = null;

  constructor(sse: boolean) {
    this.#sse = sse;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const c = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    // Markers wholly inside this chunk, then one that starts in the tail of the previous one.
    const head = this.#tailLen > 0 ? Buffer.concat([this.#tail.subarray(0, this.#tailLen), c.subarray(0, TAIL)]) : null;
    if (this.#sse) {
      for (let i = c.indexOf(CHOICE); i >= 0; i = c.indexOf(CHOICE, i + CHOICE.length)) this.#events++;
      const j = head ? head.indexOf(CHOICE) : -1;
      if (j >= 0 && j < this.#tailLen) this.#events++;
    }
    if (this.#collect !== null) this.#more(c.toString('utf8'));
    else {
      const j = head ? head.indexOf(USAGE) : -1;
      if (j >= 0 && j < this.#tailLen) this.#more(head!.subarray(j).toString('utf8') + c.subarray(TAIL).toString('utf8'), true);
      else {
        const i = c.indexOf(USAGE);
        if (i >= 0) this.#more(c.subarray(i).toString('utf8'), true);
      }
    }
    // The tail is the stream's last bytes, which for a short chunk still include earlier ones.
    if (c.length >= TAIL) {
      c.copy(this.#tail, 0, c.length - TAIL);
      this.#tailLen = TAIL;
    } else {
      const joined = Buffer.concat([this.#tail.subarray(0, this.#tailLen), c]);
      const keep = Math.min(TAIL, joined.length);
      joined.copy(this.#tail, 0, joined.length - keep);
      this.#tailLen = keep;
    }
  }

  #more(text: string, start = false): void {
    this.#collect = start || this.#collect === null ? text : this.#collect + text;
    for (;;) {
      const m = USAGE_RE.exec(this.#collect);
      if (!m) break;
      this.#read(m[1]!);
      // Another usage may follow (continuous usage stats): keep scanning what is after this one.
      const rest = this.#collect.slice(m.index + m[0].length);
      const next = rest.indexOf('"usage"');
      this.#collect = next >= 0 ? rest.slice(next) : null;
      if (this.#collect === null) return;
    }
    if (this.#collect.length > MAX_COLLECT) this.#collect = null;
  }

  #read(json: string): void {
    let u: { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } | null };
    try {
      u = JSON.parse(json) as typeof u;
    } catch {
      return;
    }
    if (!Number.isInteger(u.prompt_tokens) || !Number.isInteger(u.completion_tokens)) return;
    const cached = u.prompt_tokens_details?.cached_tokens;
    this.#usage = { promptTokens: u.prompt_tokens as number, completionTokens: u.completion_tokens as number, ...(Number.isInteger(cached) ? { cachedTokens: cached as number } : {}) };
  }

  usage(): Usage | null {
    if (this.#usage) return this.#usage;
    if (this.#sse && this.#events > 0) return { promptTokens: 0, completionTokens: this.#events };
    return null;
  }
}
