// Response bodies as vLLM writes them, for chat and completions, JSON and SSE. Everything that
// is the same for every chunk of a request is serialized once; a token costs one
// JSON.stringify of its text. Field order follows vLLM's pydantic models.

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedTokens: number;
}

export interface ResponseMeta {
  readonly kind: 'completion' | 'chat';
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

function usageJson(u: Usage): string {
  return `{"prompt_tokens":${u.promptTokens},"total_tokens":${u.promptTokens + u.completionTokens},"completion_tokens":${u.completionTokens},"prompt_tokens_details":{"cached_tokens":${u.cachedTokens}}}`;
}

export function usageObject(u: Usage): Record<string, unknown> {
  return JSON.parse(usageJson(u)) as Record<string, unknown>;
}

/** Writes the `data:` events of one streamed choice. */
export class SseWriter {
  readonly #head: string;
  readonly #chat: boolean;
  readonly #meta: ResponseMeta;

  constructor(meta: ResponseMeta) {
    this.#meta = meta;
    this.#chat = meta.kind === 'chat';
    const object = this.#chat ? 'chat.completion.chunk' : 'text_completion';
    this.#head = `data: {"id":${JSON.stringify(meta.id)},"object":"${object}","created":${meta.created},"model":${JSON.stringify(meta.model)},"choices":[`;
  }

  /** Chat only: the first chunk names the role. */
  role(usage?: Usage): string {
    return `${this.#head}{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]${this.#usageTail(usage)}}\n\n`;
  }

  token(text: string, usage?: Usage): string {
    const t = JSON.stringify(text);
    const choice = this.#chat ? `{"index":0,"delta":{"content":${t}},"logprobs":null,"finish_reason":null}` : `{"index":0,"text":${t},"logprobs":null,"finish_reason":null,"stop_reason":null}`;
    return `${this.#head}${choice}]${this.#usageTail(usage)}}\n\n`;
  }

  /** The last choice chunk: remaining text plus finish and stop reasons. */
  finish(text: string, finishReason: string, stopReason: string | null, usage?: Usage): string {
    const t = JSON.stringify(text);
    const sr = JSON.stringify(stopReason);
    const choice = this.#chat
      ? `{"index":0,"delta":{"content":${t}},"logprobs":null,"finish_reason":"${finishReason}","stop_reason":${sr}}`
      : `{"index":0,"text":${t},"logprobs":null,"finish_reason":"${finishReason}","stop_reason":${sr}}`;
    return `${this.#head}${choice}]${this.#usageTail(usage)}}\n\n`;
  }

  /** With `stream_options.include_usage`: after every choice finished, before [DONE]. */
  usage(u: Usage): string {
    return `${this.#head}],"usage":${usageJson(u)}}\n\n`;
  }

  /** After the 200 went out, errors travel in the stream. */
  error(err: { message: string; type: string; param: string | null; code: number }): string {
    return `data: ${JSON.stringify({ error: err })}\n\n`;
  }

  done(): string {
    return 'data: [DONE]\n\n';
  }

  #usageTail(usage?: Usage): string {
    return usage ? `,"usage":${usageJson(usage)}` : '';
  }

  get meta(): ResponseMeta {
    return this.#meta;
  }
}

export interface FinalResult {
  readonly text: string;
  readonly finishReason: string;
  readonly stopReason: string | null;
  readonly usage: Usage;
  readonly kvTransferParams: Record<string, unknown> | null;
}

/** The non-streaming body. */
export function responseBody(meta: ResponseMeta, r: FinalResult): string {
  const head = `{"id":${JSON.stringify(meta.id)},"object":"${meta.kind === 'chat' ? 'chat.completion' : 'text_completion'}","created":${meta.created},"model":${JSON.stringify(meta.model)},"choices":[`;
  const t = JSON.stringify(r.text);
  const sr = JSON.stringify(r.stopReason);
  const choice =
    meta.kind === 'chat'
      ? `{"index":0,"message":{"role":"assistant","content":${t},"refusal":null,"annotations":null,"audio":null,"function_call":null,"tool_calls":[],"reasoning_content":null},"logprobs":null,"finish_reason":"${r.finishReason}","stop_reason":${sr}}`
      : `{"index":0,"text":${t},"logprobs":null,"finish_reason":"${r.finishReason}","stop_reason":${sr},"prompt_logprobs":null}`;
  const tail = meta.kind === 'chat' ? `,"prompt_logprobs":null` : '';
  return `${head}${choice}],"service_tier":null,"system_fingerprint":null,"usage":${usageJson(r.usage)}${tail},"kv_transfer_params":${JSON.stringify(r.kvTransferParams)}}`;
}
