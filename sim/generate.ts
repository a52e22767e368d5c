// POST /v1/completions and /v1/chat/completions on a simulated worker: validation as vLLM does
// it, fault injection, P/D handshakes, then the engine's tokens written as JSON or SSE. As in
// vLLM, a stream's status line goes out with its first token, so a request that fails before
// then gets a real HTTP status rather than a 200 with an error event.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { blockHashes, saltOf, seedOf } from './block-hash.ts';
import type { Clock } from './clock.ts';
import type { Engine, FinishReason, RemoteKvSource, TokenEvent } from './engine.ts';
import { parseFaultHeader, requestFaults, type FaultState } from './faults.ts';
import { BodyTooLarge, chunked, parseJson, readBody, sendJson } from './http-util.ts';
import type { RequestObserver } from './metrics.ts';
import { remoteKvSource, type NixlLeases } from './nixl.ts';
import { parseChat, parseCompletion, type GenerationRequest, type SchedulingPolicy } from './openai-request.ts';
import { responseBody, SseWriter, type ResponseMeta, type Usage } from './openai-response.ts';
import { naturalLength, OutputAssembler, tokenText } from './output-text.ts';
import type { P2pNccl } from './p2p-nccl.ts';
import { detokenize, isValidTokenId, tokenize } from './tokenizer.ts';
import { badRequest, engineError, injectedError, invalidValue, modelNotFound, vllmError, type VllmError } from './vllm-errors.ts';

export type KvConnector = 'nixl' | 'p2p-nccl' | 'none';

export interface GenerationContext {
  readonly engine: Engine;
  readonly clock: Clock;
  readonly servedModels: readonly string[];
  readonly maxModelLen: number;
  readonly metrics: RequestObserver;
  readonly faults: () => FaultState;
  readonly random: () => number;
  readonly connector: KvConnector;
  readonly kvLoadFailurePolicy: 'recompute' | 'fail';
  readonly nixl: NixlLeases;
  readonly p2p: P2pNccl | null;
  readonly outputLength: { readonly min: number; readonly max: number };
  readonly schedulingPolicy: SchedulingPolicy;
  /** Responses still open (for /load, and so a crash can cut them). */
  readonly open: Set<ServerResponse>;
}

const MAX_BODY = 64 * 1024 * 1024;

function sendError(res: ServerResponse, e: VllmError, requestId?: string): void {
  if (res.headersSent || res.destroyed) return;
  sendJson(res, e.status, e.body, requestId ? { 'x-request-id': requestId } : {});
}

export async function handleGeneration(ctx: GenerationContext, kind: 'completion' | 'chat', req: IncomingMessage, res: ServerResponse): Promise<void> {
  const arrival = ctx.clock.now();
  const header = (name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const xRequestId = header('x-request-id') || randomUUID().replaceAll('-', '');
  const faultHeader = parseFaultHeader(header('x-sim-fault'));
  if (!faultHeader.ok) return sendError(res, badRequest(faultHeader.message, 'x-sim-fault'), xRequestId);
  const state = ctx.faults();
  if (state.dead) return sendError(res, engineError('EngineCore encountered an issue. See stack trace (above) for the root cause.'), xRequestId);
  if (state.slowStartUntil > ctx.clock.now()) return sendError(res, vllmError(503, 'ServiceUnavailableError', 'The server is not ready yet: the model is loading.'), xRequestId);

  let raw: Buffer;
  try {
    raw = await readBody(req, MAX_BODY);
  } catch (e) {
    if (e instanceof BodyTooLarge) return sendError(res, vllmError(413, 'Request Entity Too Large', e.message), xRequestId);
    return; // client went away while sending
  }
  const json = parseJson(raw);
  if (!json.ok) return sendError(res, badRequest(json.message), xRequestId);
  const parsed = kind === 'chat' ? parseChat(json.value, ctx.schedulingPolicy) : parseCompletion(json.value, ctx.schedulingPolicy);
  if (!parsed.ok) return sendError(res, parsed.error, xRequestId);
  const g = parsed.value;

  const f = requestFaults(state, faultHeader.value, ctx.random);
  ctx.open.add(res);
  res.on('close', () => ctx.open.delete(res));
  if (f.latencyMs > 0) {
    await new Promise<void>((r) => ctx.clock.after(f.latencyMs, r));
    if (res.destroyed) return;
  }
  if (f.hang) return; // accepted, never answered; the connection stays open until someone closes it
  if (f.errorStatus !== null) return sendError(res, injectedError(f.errorStatus), xRequestId);

  const model = g.model ?? ctx.servedModels[0]!;
  if (!ctx.servedModels.includes(model)) return sendError(res, modelNotFound(model), xRequestId);

  let promptTokens: readonly number[];
  if ('text' in g.prompt) promptTokens = tokenize(g.prompt.text);
  else {
    const bad = g.prompt.tokens.findIndex((t) => !isValidTokenId(t));
    if (bad >= 0) return sendError(res, invalidValue(`Token id ${g.prompt.tokens[bad]} is out of vocabulary`, 'prompt'), xRequestId);
    promptTokens = g.prompt.tokens;
  }
  if (promptTokens.length === 0) return sendError(res, invalidValue('The prompt cannot be empty.', kind === 'chat' ? 'messages' : 'prompt'), xRequestId);
  const inputParam = kind === 'chat' ? 'messages' : 'prompt';
  if (promptTokens.length >= ctx.maxModelLen)
    return sendError(
      res,
      invalidValue(
        `This model's maximum context length is ${ctx.maxModelLen} tokens. However, your request has ${promptTokens.length} input tokens. Please reduce the length of the input messages.`,
        inputParam,
      ),
      xRequestId,
    );
  const room = ctx.maxModelLen - promptTokens.length;
  if (g.maxTokens !== null && g.maxTokens > room)
    return sendError(
      res,
      invalidValue(
        `'max_tokens' or 'max_completion_tokens' is too large: ${g.maxTokens}. This model's maximum context length is ${ctx.maxModelLen} tokens and your request has ${promptTokens.length} input tokens (${g.maxTokens} > ${ctx.maxModelLen} - ${promptTokens.length}).`,
        'max_tokens',
      ),
      xRequestId,
    );
  const maxTokens = g.maxTokens ?? room;

  const responseId = kind === 'chat' ? `chatcmpl-${xRequestId}` : `cmpl-${xRequestId}`;
  const baseRequestId = kind === 'chat' ? responseId : `${responseId}-0`;
  // Newer vLLM suffixes internal ids so that clients reusing an X-Request-Id do not collide. The
  // id is settled when the request enters the engine (after the frontend delay), so that two
  // requests with the same X-Request-Id arriving together, or a retried prefill whose first KV is
  // still leased, get distinct ids.
  let engineRequestId = baseRequestId;
  let added = false;

  // P/D handshakes.
  const kv = g.kvTransferParams;
  let holdKv = false;
  let remoteKv: RemoteKvSource | undefined;
  let afterPrefill: (() => void) | undefined;
  if (ctx.connector === 'nixl' && kv?.do_remote_decode === true) {
    if (g.stream) return sendError(res, invalidValue('Prefill does not support streaming: send the prefill request with stream=false.', 'stream'), xRequestId);
    holdKv = true;
  } else if (ctx.connector === 'nixl' && kv?.do_remote_prefill === true) {
    const check = remoteKvSource(kv, engineRequestId);
    if (check.ok) {
      remoteKv = check.source(ctx.kvLoadFailurePolicy, () => {
        ctx.nixl.failedTransfers++;
      });
    } else {
      ctx.nixl.failedTransfers++;
      if (ctx.kvLoadFailurePolicy === 'fail') return sendError(res, engineError(`KV transfer failed: ${check.reason}`), xRequestId);
    }
  } else if (ctx.connector === 'p2p-nccl' && ctx.p2p) {
    const plan = ctx.p2p.plan(xRequestId);
    if (!plan.ok) return sendError(res, engineError(plan.reason), xRequestId);
    if (plan.role === 'decode') remoteKv = plan.source(ctx.kvLoadFailurePolicy);
    else afterPrefill = () => plan.sendKv(promptTokens.length);
  }

  const seed = seedOf('text' in g.prompt ? g.prompt.text : promptTokens.join(','));
  const meta: ResponseMeta = { kind, id: responseId, created: Math.floor(Date.now() / 1000), model };
  const sse = g.stream ? new SseWriter(meta) : null;
  const out = new OutputAssembler(g.stop, g.includeStopStr, g.minTokens);
  let pending = '';
  let lastTokenAt = 0;
  let firstTokenAt = 0;
  let finished = false;
  let completionTokens = 0;
  let stopReason: string | null = null;

  const usageAt = (cached: number): Usage => ({ promptTokens: promptTokens.length, completionTokens, cachedTokens: cached });
  // vLLM answers a stream's status line and headers as soon as the engine has the request (a
  // StreamingResponse starts before its first item), while it waits and prefills; the first
  // event (chat's role delta) comes with the first token.
  const sendHead = (): void => {
    if (!res.headersSent) chunked.start(res, 200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': xRequestId });
  };
  let roleSent = false;
  const startStream = (): void => {
    sendHead();
    if (roleSent) return;
    roleSent = true;
    if (sse && kind === 'chat') chunked.write(res, sse.role(g.continuousUsage ? usageAt(0) : undefined));
  };

  const onToken = (t: TokenEvent): boolean => {
    completionTokens = t.index + 1;
    const now = ctx.clock.now();
    if (t.index === 0) {
      firstTokenAt = now;
      ctx.metrics.firstToken((now - arrival) / 1000);
      afterPrefill?.();
    } else ctx.metrics.interToken((now - lastTokenAt) / 1000);
    lastTokenAt = now;
    const piece = out.push(tokenText(seed, t.index));
    if (piece.stopped) stopReason = piece.stopReason;
    const ending = piece.stopped ? 'stop' : t.ending;
    // die-after=N delivers N tokens (die-after=0: nothing at all) and then cuts the connection.
    const deliver = f.dieAfterTokens === null || completionTokens <= f.dieAfterTokens;
    const die = f.dieAfterTokens !== null && completionTokens >= f.dieAfterTokens;
    if (sse && deliver) {
      startStream();
      const usage = g.continuousUsage ? usageAt(t.cachedTokens) : undefined;
      if (ending) chunked.write(res, sse.finish(piece.delta + out.flush(), ending, stopReason, usage));
      else if (piece.delta) chunked.write(res, sse.token(piece.delta, usage));
    }
    if (die) {
      // The worker died under this request: the engine drops it (an abort, as when the client
      // leaves), and the connection is cut without the stream's end. What was written must reach
      // the client first: an empty socket write completes in order, after everything queued
      // before it (node:http may still hold corked writes until the next tick).
      ctx.engine.abort(engineRequestId);
      const socket = res.socket;
      if (socket && !socket.destroyed) socket.write('', () => socket.destroy());
      return false;
    }
    return piece.stopped;
  };

  const onFinish = (reason: FinishReason, _at: number, outcome: { cachedTokens: number; heldBlocks?: readonly number[] }): void => {
    finished = true;
    const now = ctx.clock.now();
    const scheduledAt = (outcome as { scheduledAt?: number }).scheduledAt;
    if (reason !== 'abort' && reason !== 'error') {
      ctx.metrics.finished({
        e2eS: (now - arrival) / 1000,
        queueS: ((scheduledAt ?? now) - arrival) / 1000,
        prefillS: ((firstTokenAt || now) - (scheduledAt ?? now)) / 1000,
        decodeS: (now - (firstTokenAt || now)) / 1000,
        promptTokens: promptTokens.length,
        generationTokens: completionTokens,
      });
    }
    if (reason === 'abort' || res.destroyed) {
      if (outcome.heldBlocks) ctx.engine.releaseBlocks(outcome.heldBlocks);
      return;
    }
    if (reason === 'error') {
      const e = engineError('KV transfer failed and kv_load_failure_policy is "fail".');
      if (!res.headersSent) {
        sendError(res, e, xRequestId);
        return;
      }
      chunked.end(res, `${new SseWriter(meta).error(e.body.error)}data: [DONE]\n\n`);
      return;
    }
    const usage = usageAt(outcome.cachedTokens);
    if (sse) {
      startStream();
      chunked.end(res, (g.includeUsage ? sse.usage(usage) : '') + sse.done());
      return;
    }
    const kvOut = outcome.heldBlocks ? ctx.nixl.hold(engineRequestId, outcome.heldBlocks, promptTokens.length) : null;
    pending = out.text;
    sendJson(res, 200, responseBody(meta, { text: pending, finishReason: reason, stopReason, usage, kvTransferParams: kvOut }), { 'x-request-id': xRequestId });
  };

  res.on('close', () => {
    // Only a request this handler added: an id not yet in the engine may belong to another request.
    if (added && !finished) ctx.engine.abort(engineRequestId);
  });

  const hashes = blockHashes(promptTokens, ctx.engine.blockSize, g.cacheSalt ? saltOf(g.cacheSalt) : 0n);
  const eosAt = g.ignoreEos ? Number.POSITIVE_INFINITY : naturalLength(seed, ctx.outputLength.min, ctx.outputLength.max);
  // Tokenisation and request setup happen before the engine sees the request.
  ctx.clock.after(ctx.engine.profile.frontendMs, () => {
    if (res.destroyed) return;
    if (ctx.engine.has(engineRequestId) || ctx.nixl.holds(engineRequestId)) engineRequestId = `${baseRequestId}-${randomUUID().slice(0, 8)}`;
    added = true;
    ctx.engine.add({
      id: engineRequestId,
      promptTokens,
      blockHashes: hashes,
      maxTokens,
      minTokens: g.minTokens,
      eosAt,
      holdKvOnFinish: holdKv,
      priority: g.priority,
      ...(remoteKv ? { remoteKv } : {}),
      sink: { token: onToken, finish: onFinish },
    });
    if (sse && !finished) sendHead();
  });
}

/** POST /tokenize: completion form {prompt} or chat form {messages}. */
export function tokenizeBody(body: unknown, maxModelLen: number): { status: number; body: unknown } {
  const b = (body ?? {}) as { prompt?: unknown; messages?: unknown; return_token_strs?: unknown };
  let text: string;
  if (typeof b.prompt === 'string') text = b.prompt;
  else if (Array.isArray(b.messages)) {
    const parsed = parseChat({ messages: b.messages });
    if (!parsed.ok) return { status: parsed.error.status, body: parsed.error.body };
    text = 'text' in parsed.value.prompt ? parsed.value.prompt.text : '';
  } else {
    const e = badRequest('prompt: Field required', 'prompt');
    return { status: e.status, body: e.body };
  }
  const tokens = tokenize(text);
  const out: Record<string, unknown> = { count: tokens.length, max_model_len: maxModelLen, tokens };
  if (b.return_token_strs === true) out.token_strs = tokens.map((t) => detokenize([t]));
  return { status: 200, body: out };
}

export function detokenizeBody(body: unknown): { status: number; body: unknown } {
  const tokens = (body as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t))) {
    const e = badRequest('tokens: Input should be a valid list of integers', 'tokens');
    return { status: e.status, body: e.body };
  }
  return { status: 200, body: { prompt: detokenize(tokens as number[]) } };
}

export type { GenerationRequest };
