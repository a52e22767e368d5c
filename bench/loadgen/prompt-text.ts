// Prompt text with an exact token count on the simulator's tokenizer (sim/tokenizer.ts).
// That tokenizer cuts text into pre-tokens (a word with its leading space, …) and each pre-token
// into pieces of at most 4 UTF-8 bytes, so a word of one to three ASCII letters, with its leading
// space, is exactly one token: n such words joined by single spaces are n tokens, and two such
// texts joined by a space are the sum. Every text is still checked with `tokenize`, so a change
// to the tokenizer fails loudly here instead of skewing a benchmark. (~4 characters per token,
// close to English on Llama 3's BPE.) Pure, no I/O.
import { renderChat, tokenize, type ChatMessageLike } from '../../sim/tokenizer.ts';
import type { Random } from '../lib/prng.ts';

/** Short English words, each one token with or without its leading space. */
const WORDS = Object.freeze([
  'the',
  'of',
  'and',
  'to',
  'in',
  'is',
  'it',
  'for',
  'on',
  'as',
  'at',
  'by',
  'we',
  'he',
  'she',
  'you',
  'are',
  'was',
  'be',
  'or',
  'an',
  'but',
  'not',
  'all',
  'can',
  'had',
  'her',
  'one',
  'our',
  'out',
  'day',
  'get',
  'has',
  'him',
  'his',
  'how',
  'man',
  'new',
  'now',
  'old',
  'see',
  'two',
  'way',
  'who',
  'boy',
  'did',
  'its',
  'let',
  'put',
  'say',
  'too',
  'use',
  'cat',
  'dog',
  'run',
  'sun',
  'sky',
  'red',
  'big',
  'low',
  'top',
  'end',
  'far',
  'few',
  'key',
  'map',
  'net',
  'row',
  'set',
  'tag',
  'tea',
  'toy',
  'van',
  'war',
  'web',
  'yes',
  'zip',
  'ask',
  'bed',
  'box',
  'car',
  'cup',
  'cut',
  'egg',
  'eye',
  'fan',
  'fix',
  'fly',
  'fox',
  'fun',
  'gas',
  'hat',
  'ice',
  'ink',
  'jam',
  'job',
  'joy',
  'kid',
  'lab',
  'law',
  'leg',
  'lid',
  'lip',
  'mix',
  'mud',
  'nap',
  'oak',
  'oil',
  'owl',
  'pan',
  'pen',
  'pet',
  'pig',
  'pin',
  'pot',
  'rat',
  'ray',
  'rib',
  'rug',
  'sea',
  'sip',
  'ski',
  'spy',
  'tin',
  'tip',
  'toe',
  'ton',
  'tub',
] as const);

/** `n` random words; as text (joined by spaces) they are exactly `n` tokens. */
export function randomWords(random: Random, n: number): string[] {
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = WORDS[Math.floor(random() * WORDS.length)]!;
  return out;
}

/** Joins word lists into one text and checks that it is exactly `expected` tokens. */
export function exactText(expected: number, ...parts: readonly (readonly string[])[]): string {
  const text = parts
    .filter((p) => p.length > 0)
    .map((p) => p.join(' '))
    .join(' ');
  const got = tokenize(text).length;
  if (got !== expected) throw new Error(`prompt text is ${got} tokens, expected ${expected}: the simulator's tokenizer changed`);
  return text;
}

/** Tokens of a chat prompt as the simulator counts them: the messages rendered with its template. */
export function chatTokens(messages: readonly ChatMessageLike[]): number {
  return tokenize(renderChat(messages)).length;
}

/**
 * A single-user-message chat prompt of exactly `target` tokens once rendered with the template:
 * `fixed` words are kept whole, and as many of `filler` as fit follow them (the template's own
 * tokens are taken out of the filler). Throws when even the fixed part is too long.
 */
export function exactChatContent(target: number, fixed: readonly string[], filler: readonly string[]): string {
  const render = (n: number): { content: string; tokens: number } => {
    const content = [...fixed, ...filler.slice(0, n)].join(' ');
    return { content, tokens: chatTokens([{ role: 'user', content }]) };
  };
  // The template adds a constant number of tokens; measure it once, then check the fit.
  const probe = render(filler.length);
  const n = filler.length - (probe.tokens - target);
  if (n >= 0 && n <= filler.length) {
    const fit = render(n);
    if (fit.tokens === target) return fit.content;
  }
  throw new Error(`cannot fit a chat prompt of ${target} tokens (template and fixed part take ${probe.tokens - filler.length})`);
}
