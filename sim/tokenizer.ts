// A deterministic, invertible tokenizer stand-in. No vocabulary file and no GPU: text is split
// into pre-tokens (words with their leading space, digits, punctuation runs, whitespace), each
// pre-token into pieces of at most 4 UTF-8 bytes, and a piece's id is its bytes (plus a length tag).
// English averages ~4 characters per token, close to Llama 3's BPE, and equal text always yields
// equal ids, which is all prefix caching needs. Chat templates use Llama-3-style special tokens.

const PRETOKEN = /<\|[a-z_]+\|>|\s?\p{L}+|\s?\p{N}{1,3}|\s?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const SPECIAL_BASE = 2 ** 34;
const SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'] as const;
const SPECIAL_IDS = new Map<string, number>(SPECIALS.map((s, i) => [s, SPECIAL_BASE + i]));
/** Special tokens are split out before pre-tokenisation (as HF tokenizers do with added tokens), so punctuation or whitespace before one cannot swallow its `<|`. */
const SPECIAL_SPLIT = new RegExp(`(${SPECIALS.map((s) => s.replace(/[|]/g, '\\|')).join('|')})`);

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

function pieceId(bytes: Uint8Array, start: number, len: number): number {
  let v = 0;
  for (let i = 0; i < len; i++) v = v * 256 + (bytes[start + i] ?? 0);
  // Length tag in the high bits keeps ids of different lengths distinct ("a" vs "\0a").
  return (len - 1) * 2 ** 32 + v;
}

export function tokenize(text: string): number[] {
  const ids: number[] = [];
  for (const segment of text.split(SPECIAL_SPLIT)) {
    if (!segment) continue;
    const special = SPECIAL_IDS.get(segment);
    if (special !== undefined) {
      ids.push(special);
      continue;
    }
    for (const m of segment.matchAll(PRETOKEN)) {
      const bytes = encoder.encode(m[0]);
      for (let i = 0; i < bytes.length; i += 4) ids.push(pieceId(bytes, i, Math.min(4, bytes.length - i)));
    }
  }
  return ids;
}

export function countTokens(text: string): number {
  return tokenize(text).length;
}

/** Inverse of {@link tokenize}. Ids that are not valid pieces decode to U+FFFD, as an unknown id would. */
export function detokenize(ids: readonly number[]): string {
  const bytes: number[] = [];
  let out = '';
  const flush = (): void => {
    if (bytes.length) out += decoder.decode(Uint8Array.from(bytes));
    bytes.length = 0;
  };
  for (const id of ids) {
    if (id >= SPECIAL_BASE) {
      flush();
      out += SPECIALS[id - SPECIAL_BASE] ?? '\uFFFD';
      continue;
    }
    if (!Number.isSafeInteger(id) || id < 0) {
      flush();
      out += '\uFFFD';
      continue;
    }
    const len = Math.floor(id / 2 ** 32) + 1;
    let v = id % 2 ** 32;
    const piece: number[] = [];
    for (let i = 0; i < len; i++) {
      piece.unshift(v % 256);
      v = Math.floor(v / 256);
    }
    bytes.push(...piece);
  }
  flush();
  return out;
}

/** Token ids are plain numbers; this says whether an id could have come from {@link tokenize}. */
export function isValidTokenId(id: number): boolean {
  if (!Number.isSafeInteger(id) || id < 0) return false;
  if (id >= SPECIAL_BASE) return id < SPECIAL_BASE + SPECIALS.length;
  // A piece of L bytes is (L − 1)·2³² plus a value that fits in L bytes.
  const len = Math.floor(id / 2 ** 32) + 1;
  return len <= 4 && id % 2 ** 32 < 2 ** (8 * len);
}

export interface ChatMessageLike {
  readonly role: string;
  readonly content: string;
}

/** Renders messages with a Llama-3-style chat template (the shape, not the exact bytes). */
export function renderChat(messages: readonly ChatMessageLike[], addGenerationPrompt = true): string {
  let s = '<|begin_of_text|>';
  for (const m of messages) s += `<|start_header_id|>${m.role}<|end_header_id|>\n\n${m.content}<|eot_id|>`;
  if (addGenerationPrompt) s += '<|start_header_id|>assistant<|end_header_id|>\n\n';
  return s;
}
