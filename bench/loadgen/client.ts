// Sends one streamed OpenAI request and times it, the way `vllm bench serve` does at the client
// (vLLM's docs/benchmarking/cli.md). Straight over undici — an Agent that opens as many keep-alive
// connections as the load needs — so the client costs little per token and adds no retries,
// pooling policy or parsing of its own (the `openai` package would do all three).
//
//   sent   just before the request is handed to undici
//   TTFT   first event carrying content (chat `delta.content`, completions `text`, non-empty) − sent;
//          chat's opening role-only chunk is not output, so it does not count
//   ITL    gaps between consecutive content events (events of one network chunk share its time)
//   E2E    end of the stream − sent
//   TPOT   (E2E − TTFT)/(output_tokens − 1)
//   tokens `usage` of the final chunk (`stream_options.include_usage`): prompt, completion, and
//          `prompt_tokens_details.cached_tokens`
//
// A request succeeds with status 200, at least one content event, no error event, and `[DONE]`.
// It never hangs: one deadline (`timeoutMs`) covers connect, headers and the whole body.
import { performance } from 'node:perf_hooks';
import { Agent, type Dispatcher } from 'undici';
import { SseDecoder } from './sse.ts';
import { tpotMs } from './summary.ts';
import { ROUTES, type WorkItem } from './workloads.ts';

export interface RequestResult {
  readonly ok: boolean;
  /** Why it failed, or null. */
  readonly error: string | null;
  /** HTTP status (0 when none arrived). */
  readonly status: number;
  /** performance.now() at send. */
  readonly sentAt: number;
  readonly ttftMs: number;
  readonly itlMs: readonly number[];
  readonly e2eMs: number;
  readonly tpotMs: number | null;
  readonly contentEvents: number;
  /** From the usage chunk; without one, the count of content events and the expected prompt length. */
  readonly outputTokens: number;
  readonly promptTokens: number;
  readonly cachedTokens: number;
  /** The generated text (kept when asked for, and always for multi-turn sessions). */
  readonly text: string | null;
}

export interface SendOptions {
  readonly timeoutMs: number;
  /** Sent as `x-request-id`. */
  readonly requestId?: string;
  readonly keepText?: boolean;
}

interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
}

interface Chunk {
  choices?: { delta?: { content?: string | null }; text?: string | null }[];
  usage?: Usage | null;
  error?: { message?: string; code?: number | string };
  message?: string;
  object?: string;
}

/** An undici Agent for one benchmark run; `connections` null lets it open one per outstanding request. */
export function createAgent(connections: number | null): Agent {
  return new Agent({
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    // The request's own deadline governs; undici's 300 s defaults would only hide a hang.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: { noDelay: true },
  });
}

function errorText(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; code?: string; message?: string; cause?: unknown };
  if (err?.name === 'TimeoutError' || (err?.name === 'AbortError' && (err.cause as { name?: string } | undefined)?.name === 'TimeoutError'))
    return `timeout: no complete answer within ${timeoutMs / 1000} s`;
  return `${err?.code ?? err?.name ?? 'Error'}: ${err?.message ?? String(e)}`;
}

/** Sends `item` to `baseUrl` (e.g. `http://127.0.0.1:8000`) and measures it. Never throws. */
export async function sendRequest(dispatcher: Dispatcher, baseUrl: string, item: WorkItem, opts: SendOptions): Promise<RequestResult> {
  const keepText = opts.keepText === true || item.sessionId !== undefined;
  const chat = item.route === 'chat';
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream', ...item.headers };
  if (opts.requestId !== undefined) headers['x-request-id'] = opts.requestId;
  const body = JSON.stringify(item.body);

  let status = 0;
  let first = 0;
  let last = 0;
  let events = 0;
  const itl: number[] = [];
  let text = '';
  let usage: Usage | null = null;
  let done = false;
  let error: string | null = null;
  const sentAt = performance.now();
  try {
    const res = await dispatcher.request({
      origin: baseUrl,
      path: ROUTES[item.route],
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    status = res.statusCode;
    if (status !== 200) {
      const detail = (await res.body.text()).slice(0, 300);
      error = `HTTP ${status}: ${detail}`;
    } else {
      const sse = new SseDecoder();
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        const now = performance.now();
        for (const data of sse.push(chunk)) {
          if (data === '[DONE]') {
            done = true;
            continue;
          }
          let c: Chunk;
          try {
            c = JSON.parse(data) as Chunk;
          } catch {
            error ??= `malformed event: ${data.slice(0, 100)}`;
            continue;
          }
          if (c.error || c.object === 'error') {
            error ??= `stream error: ${c.error?.message ?? c.message ?? data.slice(0, 200)}`;
            continue;
          }
          const choice = c.choices?.[0];
          const piece = choice ? (chat ? choice.delta?.content : choice.text) : null;
          if (piece) {
            if (events === 0) first = now;
            else itl.push(now - last);
            last = now;
            events++;
            if (keepText) text += piece;
          }
          if (c.usage) usage = c.usage;
        }
      }
      if (error === null && !done) error = `truncated stream: no [DONE] after ${events} content events`;
      if (error === null && events === 0) error = 'empty stream: no content events';
    }
  } catch (e) {
    error = errorText(e, opts.timeoutMs);
  }
  const end = performance.now();
  const outputTokens = usage?.completion_tokens ?? events;
  const ttftMs = events > 0 ? first - sentAt : 0;
  const e2eMs = end - sentAt;
  return {
    ok: error === null,
    error,
    status,
    sentAt,
    ttftMs,
    itlMs: itl,
    e2eMs,
    tpotMs: error === null ? tpotMs(e2eMs, ttftMs, outputTokens) : null,
    contentEvents: events,
    outputTokens,
    promptTokens: usage?.prompt_tokens ?? item.inputTokens,
    cachedTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
    text: keepText ? text : null,
  };
}
