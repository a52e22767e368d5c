// Parses and checks /v1/completions and /v1/chat/completions bodies the way vLLM does: a schema
// check first (400 "Bad Request" naming the dotted field path), then value checks (400
// BadRequestError). Unknown fields are accepted, as vLLM's pydantic models accept extras.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { renderChat } from './tokenizer.ts';
import { badRequest, invalidValue, type VllmError } from './vllm-errors.ts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Int = Type.Integer();

const Common = {
  model: Type.Optional(Nullable(Type.String())),
  stream: Type.Optional(Nullable(Type.Boolean())),
  stream_options: Type.Optional(
    Nullable(
      Type.Object({
        include_usage: Type.Optional(Nullable(Type.Boolean())),
        continuous_usage_stats: Type.Optional(Nullable(Type.Boolean())),
      }),
    ),
  ),
  max_tokens: Type.Optional(Nullable(Int)),
  min_tokens: Type.Optional(Int),
  n: Type.Optional(Nullable(Int)),
  stop: Type.Optional(Nullable(Type.Union([Type.String(), Type.Array(Type.String())]))),
  ignore_eos: Type.Optional(Type.Boolean()),
  include_stop_str_in_output: Type.Optional(Type.Boolean()),
  temperature: Type.Optional(Nullable(Type.Number())),
  top_p: Type.Optional(Nullable(Type.Number())),
  seed: Type.Optional(Nullable(Int)),
  user: Type.Optional(Nullable(Type.String())),
  priority: Type.Optional(Int),
  cache_salt: Type.Optional(Nullable(Type.String())),
  kv_transfer_params: Type.Optional(Nullable(Type.Record(Type.String(), Type.Unknown()))),
};

const CompletionSchema = Type.Object({
  ...Common,
  prompt: Type.Union([Type.String(), Type.Array(Type.String()), Type.Array(Int), Type.Array(Type.Array(Int))]),
  logprobs: Type.Optional(Nullable(Int)),
  echo: Type.Optional(Nullable(Type.Boolean())),
});

const ContentPart = Type.Object({ type: Type.String(), text: Type.Optional(Type.String()) });
const Message = Type.Object({
  role: Type.String(),
  content: Type.Optional(Nullable(Type.Union([Type.String(), Type.Array(ContentPart)]))),
});
const ChatSchema = Type.Object({
  ...Common,
  messages: Type.Array(Message),
  max_completion_tokens: Type.Optional(Nullable(Int)),
  logprobs: Type.Optional(Nullable(Type.Boolean())),
  add_generation_prompt: Type.Optional(Type.Boolean()),
});

export type CompletionBody = Static<typeof CompletionSchema>;
export type ChatBody = Static<typeof ChatSchema>;

const checkCompletion = TypeCompiler.Compile(CompletionSchema);
const checkChat = TypeCompiler.Compile(ChatSchema);

/** What the generation handler needs, whichever route it came from. */
export interface GenerationRequest {
  readonly kind: 'completion' | 'chat';
  readonly model: string | null;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly continuousUsage: boolean;
  /** Prompt as text (chat: rendered with the template) or as token ids. */
  readonly prompt: { readonly text: string } | { readonly tokens: readonly number[] };
  /** null: the rest of the context (chat without a limit, or completions with an explicit `max_tokens: null`). */
  readonly maxTokens: number | null;
  readonly minTokens: number;
  readonly stop: readonly string[];
  readonly ignoreEos: boolean;
  readonly includeStopStr: boolean;
  readonly cacheSalt: string | null;
  readonly kvTransferParams: Readonly<Record<string, unknown>> | null;
  /** vLLM's `priority` (lower is more urgent); only a priority-scheduling engine takes one other than 0. */
  readonly priority: number;
}

/** How the engine schedules its waiting requests, as vLLM's --scheduling-policy. */
export type SchedulingPolicy = 'fcfs' | 'priority';

export type Parsed = { ok: true; value: GenerationRequest } | { ok: false; error: VllmError };

function schemaError(errors: Iterable<{ path: string; message: string }>): VllmError {
  let first: { path: string; message: string } | undefined;
  for (const e of errors) {
    // Prefer the deepest path: union mismatches report the parent first.
    if (!first || e.path.length > first.path.length) first = e;
    if (first.path.split('/').length > 3) break;
  }
  const param = first?.path.replace(/^\//, '').replaceAll('/', '.') || null;
  return badRequest(`${param ?? 'body'}: ${first?.message ?? 'invalid request'}`, param);
}

function commonChecks(body: CompletionBody | ChatBody, maxTokens: number | null, policy: SchedulingPolicy): VllmError | null {
  if (maxTokens !== null && maxTokens < 1) return invalidValue(`max_tokens must be at least 1, got ${maxTokens}.`, 'max_tokens');
  if ((body.min_tokens ?? 0) < 0) return invalidValue(`min_tokens must be greater than or equal to 0, got ${body.min_tokens}.`, 'min_tokens');
  if (maxTokens !== null && (body.min_tokens ?? 0) > maxTokens) return invalidValue(`min_tokens must be less than or equal to max_tokens=${maxTokens}, got ${body.min_tokens}.`, 'min_tokens');
  if ((body.n ?? 1) !== 1) return invalidValue(`n=${body.n} is not supported by this simulator: only n=1 is.`, 'n');
  if ((body.priority ?? 0) !== 0 && policy !== 'priority') return invalidValue('Priority scheduling is not enabled. Set --scheduling-policy priority to use it.', 'priority');
  if (body.stream_options && !body.stream) return invalidValue('Stream options can only be defined when `stream=True`.', 'stream_options');
  if (body.cache_salt === '') return invalidValue("Parameter 'cache_salt' must be a non-empty string if provided.", 'cache_salt');
  return null;
}

function stopsOf(stop: string | string[] | null | undefined): string[] {
  if (stop == null) return [];
  return typeof stop === 'string' ? [stop] : stop;
}

export function parseCompletion(raw: unknown, policy: SchedulingPolicy = 'fcfs'): Parsed {
  if (!checkCompletion.Check(raw)) return { ok: false, error: schemaError(checkCompletion.Errors(raw)) };
  const b = raw;
  // vLLM's CompletionRequest defaults max_tokens to 16 when absent (and checks min_tokens against it);
  // an explicit null means the rest of the context, as in chat.
  const maxTokens = b.max_tokens === undefined ? 16 : b.max_tokens;
  const err = commonChecks(b, maxTokens, policy);
  if (err) return { ok: false, error: err };
  let prompt: GenerationRequest['prompt'];
  if (typeof b.prompt === 'string') prompt = { text: b.prompt };
  else if (b.prompt.length === 0) return { ok: false, error: invalidValue('Prompt cannot be empty.', 'prompt') };
  else if (typeof b.prompt[0] === 'number') prompt = { tokens: b.prompt as number[] };
  else if (b.prompt.length > 1) return { ok: false, error: invalidValue('Batched prompts are not supported by this simulator: send one prompt per request.', 'prompt') };
  else if (typeof b.prompt[0] === 'string') prompt = { text: b.prompt[0] };
  else prompt = { tokens: b.prompt[0] as number[] };
  return {
    ok: true,
    value: {
      kind: 'completion',
      model: b.model ?? null,
      stream: b.stream === true,
      includeUsage: b.stream_options?.include_usage === true,
      continuousUsage: b.stream_options?.continuous_usage_stats === true,
      prompt,
      maxTokens,
      minTokens: b.min_tokens ?? 0,
      stop: stopsOf(b.stop),
      ignoreEos: b.ignore_eos === true,
      includeStopStr: b.include_stop_str_in_output === true,
      cacheSalt: b.cache_salt ?? null,
      kvTransferParams: b.kv_transfer_params ?? null,
      priority: b.priority ?? 0,
    },
  };
}

export function parseChat(raw: unknown, policy: SchedulingPolicy = 'fcfs'): Parsed {
  if (!checkChat.Check(raw)) return { ok: false, error: schemaError(checkChat.Errors(raw)) };
  const b = raw;
  const maxTokens = b.max_completion_tokens ?? b.max_tokens ?? null;
  const err = commonChecks(b, maxTokens, policy);
  if (err) return { ok: false, error: err };
  if (b.messages.length === 0) return { ok: false, error: invalidValue('messages must contain at least one message.', 'messages') };
  const messages = b.messages.map((m) => ({
    role: m.role,
    content: typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text ?? '').join(''),
  }));
  return {
    ok: true,
    value: {
      kind: 'chat',
      model: b.model ?? null,
      stream: b.stream === true,
      includeUsage: b.stream_options?.include_usage === true,
      continuousUsage: b.stream_options?.continuous_usage_stats === true,
      prompt: { text: renderChat(messages, b.add_generation_prompt ?? true) },
      maxTokens,
      minTokens: b.min_tokens ?? 0,
      stop: stopsOf(b.stop),
      ignoreEos: b.ignore_eos === true,
      includeStopStr: b.include_stop_str_in_output === true,
      cacheSalt: b.cache_salt ?? null,
      kvTransferParams: b.kv_transfer_params ?? null,
      priority: b.priority ?? 0,
    },
  };
}
