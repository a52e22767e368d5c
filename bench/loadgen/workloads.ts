// Request sources for the load generator, modelled on `vllm bench serve` datasets and the
// multi-turn benchmark (vLLM's benchmarks/multi_turn/):
//
//   random         `--random-input-len/-output-len/-range-ratio/-prefix-len`: lengths uniform in
//                  [len·(1−r), len·(1+r)], an optional prefix shared by every prompt.
//   shared_prefix  vLLM's `prefix_repetition`: N distinct prefixes of P tokens, each request one of
//                  them (picked at random) plus a unique suffix — the dataset for prefix-aware routing.
//   multi_turn     S chat sessions open at once, T turns each. A turn resends the whole history
//                  (system prompt, earlier user turns, and the assistant's answers *as the server
//                  sent them*) plus a new user message, so each request depends on the previous
//                  answer and the prefix cache (or a router's session affinity) is exercised. Each
//                  request carries its session id in `x-session-id`. A finished (or failed)
//                  session is replaced by a fresh one, so S stay open.
//
// Every request streams with usage (`stream_options.include_usage`), and sets `ignore_eos: true`
// with `max_tokens` = the output length, so output lengths are exact. Input lengths are exact on
// the simulator's tokenizer: for completions the prompt is `inputTokens` tokens; for chat,
// `inputTokens` counts the whole prompt as the server renders it (template tokens included), which
// is what `usage.prompt_tokens` reports.
//
// Pure and seeded: the same spec and seed give the same requests (multi_turn: the same requests
// for the same answers; each session draws from its own stream, so the interleaving of sessions,
// which depends on timing, does not change their content).
import type { ChatMessageLike } from '../../sim/tokenizer.ts';
import { chatTokens, exactChatContent, exactText, randomWords } from './prompt-text.ts';
import { substream, uniformInt, type Random } from '../lib/prng.ts';

export const ROUTES = { chat: '/v1/chat/completions', completions: '/v1/completions' } as const;
export type Route = keyof typeof ROUTES;

/** The header that carries a multi-turn session's id (the router's sticky policies read it). */
export const SESSION_HEADER = 'x-session-id';

export interface WorkItem {
  readonly route: Route;
  /** The JSON body, ready to send. */
  readonly body: Readonly<Record<string, unknown>>;
  /** Extra request headers (multi_turn: the session header). */
  readonly headers: Readonly<Record<string, string>>;
  readonly sessionId?: string;
  /** multi_turn: 0 for a session's first request. */
  readonly turn?: number;
  /** Prompt tokens as the simulator counts them. */
  readonly inputTokens: number;
  /** `max_tokens`, which the server generates exactly (`ignore_eos`). */
  readonly outputTokens: number;
}

/** What the runner pulls requests from. */
export interface RequestSource {
  readonly kind: WorkloadKind;
  /** The next request, or null when none can go now (multi_turn: every open session awaits an answer). */
  next(): WorkItem | null;
  /** How a request ended: the text the server generated, or null when it failed. */
  complete(item: WorkItem, answer: string | null): void;
}

export interface RandomWorkload {
  readonly kind: 'random';
  readonly route: Route;
  readonly inputLen: number;
  readonly outputLen: number;
  /** Lengths are uniform in [len·(1−r), len·(1+r)]; 0 ≤ r < 1. */
  readonly rangeRatio: number;
  /** Tokens of one prefix shared by every prompt, on top of the input length (as vLLM does). */
  readonly prefixLen: number;
}

export interface SharedPrefixWorkload {
  readonly kind: 'shared_prefix';
  readonly route: Route;
  readonly numPrefixes: number;
  readonly prefixLen: number;
  readonly suffixLen: number;
  readonly outputLen: number;
}

export interface MultiTurnWorkload {
  readonly kind: 'multi_turn';
  /** Conversations open at once. */
  readonly sessions: number;
  /** Requests per conversation. */
  readonly turns: number;
  /** Tokens of the system prompt's content (0: no system message). */
  readonly systemPromptLen: number;
  /** When true every session has the same system prompt; else each has its own. */
  readonly sharedSystemPrompt: boolean;
  /** Tokens of each user message's content. */
  readonly userTurnLen: number;
  readonly outputLen: number;
  /** Applied to the user-turn and output lengths, as in `random`. */
  readonly rangeRatio: number;
}

export type WorkloadSpec = RandomWorkload | SharedPrefixWorkload | MultiTurnWorkload;
export type WorkloadKind = WorkloadSpec['kind'];
export const WORKLOAD_KINDS = ['random', 'multi_turn', 'shared_prefix'] as const satisfies readonly WorkloadKind[];

/** Defaults: vLLM's where it has them (`random`, `prefix_repetition`); ours for multi_turn. */
export const WORKLOAD_DEFAULTS = Object.freeze({
  random: Object.freeze({ kind: 'random', route: 'completions', inputLen: 1024, outputLen: 128, rangeRatio: 0, prefixLen: 0 } satisfies RandomWorkload),
  shared_prefix: Object.freeze({ kind: 'shared_prefix', route: 'completions', numPrefixes: 10, prefixLen: 256, suffixLen: 256, outputLen: 128 } satisfies SharedPrefixWorkload),
  multi_turn: Object.freeze({
    kind: 'multi_turn',
    sessions: 8,
    turns: 5,
    systemPromptLen: 256,
    sharedSystemPrompt: false,
    userTurnLen: 64,
    outputLen: 64,
    rangeRatio: 0,
  } satisfies MultiTurnWorkload),
});

export type WorkloadInput = { readonly kind: WorkloadKind } & Partial<Omit<RandomWorkload, 'kind'> & Omit<SharedPrefixWorkload, 'kind'> & Omit<MultiTurnWorkload, 'kind'>>;

function int(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`workload option ${name} must be an integer ≥ ${min}, got ${v}`);
}

function ratio(v: number): void {
  if (!(v >= 0 && v < 1)) throw new RangeError(`workload option rangeRatio must be in [0, 1), got ${v}`);
}

function route(v: string): void {
  if (v !== 'chat' && v !== 'completions') throw new RangeError(`workload option route must be chat or completions, got ${v}`);
}

/** Fills defaults, keeps only the kind's own fields, validates, and freezes. */
export function resolveWorkload(input: WorkloadInput): WorkloadSpec {
  const pick = <T extends object>(defaults: T): T => {
    const out = { ...defaults } as Record<string, unknown>;
    for (const k of Object.keys(defaults)) {
      const v = (input as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = v;
    }
    return out as T;
  };
  switch (input.kind) {
    case 'random': {
      const w = pick(WORKLOAD_DEFAULTS.random);
      route(w.route);
      int('inputLen', w.inputLen, 1);
      int('outputLen', w.outputLen, 1);
      int('prefixLen', w.prefixLen, 0);
      ratio(w.rangeRatio);
      return Object.freeze(w);
    }
    case 'shared_prefix': {
      const w = pick(WORKLOAD_DEFAULTS.shared_prefix);
      route(w.route);
      int('numPrefixes', w.numPrefixes, 1);
      int('prefixLen', w.prefixLen, 1);
      int('suffixLen', w.suffixLen, 1);
      int('outputLen', w.outputLen, 1);
      return Object.freeze(w);
    }
    case 'multi_turn': {
      const w = pick(WORKLOAD_DEFAULTS.multi_turn);
      int('sessions', w.sessions, 1);
      int('turns', w.turns, 1);
      int('systemPromptLen', w.systemPromptLen, 0);
      int('userTurnLen', w.userTurnLen, 1);
      int('outputLen', w.outputLen, 1);
      ratio(w.rangeRatio);
      if (typeof w.sharedSystemPrompt !== 'boolean') throw new RangeError('workload option sharedSystemPrompt must be a boolean');
      return Object.freeze(w);
    }
    default:
      throw new RangeError(`unknown workload ${(input as { kind: string }).kind} (expected ${WORKLOAD_KINDS.join(', ')})`);
  }
}

export interface SourceOptions {
  readonly model: string;
  readonly seed: number;
}

/** A source for a (resolved) workload. */
export function createSource(spec: WorkloadSpec, opts: SourceOptions): RequestSource {
  switch (spec.kind) {
    case 'random':
      return randomSource(spec, opts);
    case 'shared_prefix':
      return sharedPrefixSource(spec, opts);
    case 'multi_turn':
      return multiTurnSource(spec, opts);
  }
}

/** Lengths as vLLM's RandomDataset draws them: integers uniform in [⌊len·(1−r)⌋, ⌊len·(1+r)⌋], at least 1. */
export function lengthRange(len: number, rangeRatio: number): readonly [number, number] {
  return [Math.max(1, Math.floor(len * (1 - rangeRatio))), Math.max(1, Math.floor(len * (1 + rangeRatio)))];
}

/** The body every workload sends: streamed with usage, exact output length. */
export function requestBody(route: Route, model: string, input: string | readonly ChatMessageLike[], outputTokens: number): Record<string, unknown> {
  const head = route === 'chat' ? { model, messages: input } : { model, prompt: input };
  return { ...head, max_tokens: outputTokens, ignore_eos: true, stream: true, stream_options: { include_usage: true } };
}

/** A prompt of exactly `total` tokens: `fixed` words first, then as much of `filler` as fits. */
function prompt(route: Route, total: number, fixed: readonly string[], filler: readonly string[]): string | ChatMessageLike[] {
  if (route === 'completions') return exactText(total, fixed, filler.slice(0, total - fixed.length));
  return [{ role: 'user', content: exactChatContent(total, fixed, filler) }];
}

function randomSource(w: RandomWorkload, { model, seed }: SourceOptions): RequestSource {
  const random = substream(seed, 'random');
  const prefix = randomWords(substream(seed, 'random-prefix'), w.prefixLen);
  const [inLo, inHi] = lengthRange(w.inputLen, w.rangeRatio);
  const [outLo, outHi] = lengthRange(w.outputLen, w.rangeRatio);
  const item = (inputLen: number, outputLen: number): WorkItem => {
    const total = w.prefixLen + inputLen;
    const input = prompt(w.route, total, prefix, randomWords(random, inputLen));
    return { route: w.route, body: requestBody(w.route, model, input, outputLen), headers: {}, inputTokens: total, outputTokens: outputLen };
  };
  // Fail at creation, not mid-run, when the shortest prompt cannot hold a chat template.
  item(inLo, outLo);
  return {
    kind: 'random',
    next: () => item(uniformInt(random, inLo, inHi), uniformInt(random, outLo, outHi)),
    complete: () => undefined,
  };
}

function sharedPrefixSource(w: SharedPrefixWorkload, { model, seed }: SourceOptions): RequestSource {
  const prefixRandom = substream(seed, 'shared-prefix');
  const prefixes = Array.from({ length: w.numPrefixes }, () => randomWords(prefixRandom, w.prefixLen));
  const random = substream(seed, 'shared-prefix-suffix');
  const total = w.prefixLen + w.suffixLen;
  const item = (): WorkItem => {
    const prefix = prefixes[uniformInt(random, 0, w.numPrefixes - 1)]!;
    const input = prompt(w.route, total, prefix, randomWords(random, w.suffixLen));
    return { route: w.route, body: requestBody(w.route, model, input, w.outputLen), headers: {}, inputTokens: total, outputTokens: w.outputLen };
  };
  return { kind: 'shared_prefix', next: item, complete: () => undefined };
}

interface Session {
  readonly id: string;
  readonly random: Random;
  readonly history: ChatMessageLike[];
  turn: number;
}

function multiTurnSource(w: MultiTurnWorkload, { model, seed }: SourceOptions): RequestSource {
  const sharedSystem = exactText(w.systemPromptLen, randomWords(substream(seed, 'mt-system'), w.systemPromptLen));
  const [userLo, userHi] = lengthRange(w.userTurnLen, w.rangeRatio);
  const [outLo, outHi] = lengthRange(w.outputLen, w.rangeRatio);
  let opened = 0;
  const open = (): Session => {
    const n = opened++;
    const random = substream(seed, `mt-session-${n}`);
    const system = w.sharedSystemPrompt ? sharedSystem : exactText(w.systemPromptLen, randomWords(random, w.systemPromptLen));
    return { id: `s${seed}-${n}`, random, history: w.systemPromptLen > 0 ? [{ role: 'system', content: system }] : [], turn: 0 };
  };
  /** Sessions waiting for their next turn, longest-waiting first. */
  const idle: Session[] = Array.from({ length: w.sessions }, open);
  const busy = new Map<string, Session>();

  return {
    kind: 'multi_turn',
    next(): WorkItem | null {
      const s = idle.shift();
      if (!s) return null;
      busy.set(s.id, s);
      const userLen = uniformInt(s.random, userLo, userHi);
      const outputLen = uniformInt(s.random, outLo, outHi);
      const user = exactText(userLen, randomWords(s.random, userLen));
      const messages = [...s.history, { role: 'user', content: user }];
      return {
        route: 'chat',
        body: requestBody('chat', model, messages, outputLen),
        headers: { [SESSION_HEADER]: s.id },
        sessionId: s.id,
        turn: s.turn,
        inputTokens: chatTokens(messages),
        outputTokens: outputLen,
      };
    },
    complete(item: WorkItem, answer: string | null): void {
      const s = item.sessionId === undefined ? undefined : busy.get(item.sessionId);
      if (!s) return;
      busy.delete(s.id);
      const messages = item.body.messages as readonly ChatMessageLike[];
      // A failed turn leaves no answer to build on: that conversation ends.
      if (answer !== null) {
        s.history.push(messages[messages.length - 1]!, { role: 'assistant', content: answer });
        s.turn++;
      }
      idle.push(answer !== null && s.turn < w.turns ? s : open());
    },
  };
}
