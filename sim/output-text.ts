// The simulated model's output: deterministic text derived from the prompt (greedy decoding of the
// same prompt gives the same text), a natural end-of-sequence position, and vLLM's stop-string
// handling (text that could be the start of a stop string is held back until it is not).

const WORDS = [
  'the',
  'model',
  'router',
  'token',
  'cache',
  'prefill',
  'decode',
  'worker',
  'request',
  'stream',
  'of',
  'and',
  'to',
  'in',
  'is',
  'a',
  'that',
  'for',
  'on',
  'with',
  'as',
  'it',
  'by',
  'at',
  'from',
  'latency',
  'batch',
  'queue',
  'block',
  'session',
  'fleet',
  'load',
  'fast',
  'small',
  'large',
  'new',
  'GPU',
  'memory',
  'compute',
  'every',
  'each',
  'one',
  'two',
  'three',
  'more',
  'less',
  'well',
  'here',
] as const;

function mix(seed: number, i: number): number {
  let x = (seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** The text of output token `i`: words with a leading space, sentences of about ten words. */
export function tokenText(seed: number, i: number): string {
  const r = mix(seed, i);
  const word = WORDS[r % WORDS.length]!;
  const sentenceStart = i === 0 || mix(seed, i - 1) % 10 === 0;
  const w = sentenceStart ? word[0]!.toUpperCase() + word.slice(1) : word;
  const end = r % 10 === 0 ? '.' : '';
  return (i === 0 ? '' : ' ') + w + end;
}

/** Where this prompt's answer would end on its own (EOS), between `min` and `max` tokens. */
export function naturalLength(seed: number, min: number, max: number): number {
  return min + (mix(seed, -1) % (max - min + 1));
}

export interface Piece {
  readonly delta: string;
  /** A stop string matched; generation must end with finish_reason "stop". */
  readonly stopped: boolean;
  readonly stopReason: string | null;
}

/** Assembles output text token by token and applies `stop` strings as vLLM does. */
export class OutputAssembler {
  #stops: readonly string[];
  /** How far back a stop string that ends in a new piece can start (longest stop minus one). */
  #overlap: number;
  /** Characters held back from the stream; vLLM holds none when the stop string is to be included. */
  #holdback: number;
  #include: boolean;
  #text = '';
  #emitted = 0;
  #stopReason: string | null = null;
  /** vLLM checks stop strings only once the output has `min_tokens` tokens. */
  readonly #minTokens: number;
  #tokens = 0;

  constructor(stops: readonly string[], includeStopStr: boolean, minTokens = 0) {
    this.#minTokens = minTokens;
    this.#stops = stops.filter((s) => s.length > 0);
    this.#overlap = this.#stops.reduce((m, s) => Math.max(m, s.length - 1), 0);
    this.#holdback = includeStopStr ? 0 : this.#overlap;
    this.#include = includeStopStr;
  }

  get text(): string {
    return this.#text;
  }

  get stopReason(): string | null {
    return this.#stopReason;
  }

  push(piece: string): Piece {
    if (this.#stops.length === 0) {
      // Nothing can match: no holdback, no slicing of the growing text (a cons-string flatten per token).
      this.#text += piece;
      this.#emitted = this.#text.length;
      return { delta: piece, stopped: false, stopReason: null };
    }
    const from = Math.max(0, this.#text.length - this.#overlap);
    this.#text += piece;
    this.#tokens++;
    if (this.#stops.length > 0 && this.#tokens >= this.#minTokens) {
      // vLLM takes the first stop string *in the request's order* that occurs, not the earliest match.
      let at = -1;
      let which = '';
      for (const s of this.#stops) {
        const i = this.#text.indexOf(s, from);
        if (i >= 0) {
          at = i;
          which = s;
          break;
        }
      }
      if (at >= 0) {
        this.#text = this.#text.slice(0, this.#include ? at + which.length : at);
        this.#stopReason = which;
        return { delta: this.#take(this.#text.length), stopped: true, stopReason: which };
      }
    }
    return { delta: this.#take(this.#text.length - this.#holdback), stopped: false, stopReason: null };
  }

  /** At the end of the sequence: whatever was held back. */
  flush(): string {
    return this.#take(this.#text.length);
  }

  #take(upTo: number): string {
    if (upTo <= this.#emitted) return '';
    const d = this.#text.slice(this.#emitted, upTo);
    this.#emitted = upTo;
    return d;
  }
}
