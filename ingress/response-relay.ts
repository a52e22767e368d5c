// Drives one HTTP response from a request's stream-protocol frames (docs/PROTOCOL.md): the
// ingress's counterpart of the scheduler's StreamWriter. It puts the request on the bus, and
//  - holds a JSON answer until its `end` frame, so that a failure before then is still a clean
//    error reply and never a body cut short (schedulers send JSON answers whole: this is brief);
//  - writes an SSE answer's head at its `head` frame (a scheduler sends it at the worker's first
//    bytes) and its bytes as they come, cutting off a client that leaves more than the bound unread;
//  - hands an error that comes before the head back to the caller, to answer as any error; after
//    the head, an SSE stream says why it ends in an error event;
//  - cancels the stream when the client goes away;
//  - resubmits a request whose scheduler failed before answering (ResubmitPolicy says when).
import type { ServerResponse } from 'node:http';
import type { BaseLogger } from 'pino';
import { errors, type RouterError } from '../proto/errors.ts';
import { openAiError } from '../proto/openai-error.ts';
import type { Frame, Usage } from '../proto/stream.ts';
import type { BusState } from '../runtime/bus-state.ts';
import { newId } from '../runtime/ids.ts';
import type { IngressMetrics } from './metrics.ts';
import { ResubmitPolicy, SYSTEM_CLOCK, type ResubmitClock, type Resubmission } from './resubmit-policy.ts';
import { isNoResponders, type StreamHandlers } from './stream-client.ts';

type HeadFrame = Extract<Frame, { kind: 'head' }>;

/** The request as the relay needs it. */
export interface RelayRequest {
  /** X-Request-Id of the answer. */
  readonly requestId: string;
  /** The client asked for server-sent events (`stream: true`). */
  readonly stream: boolean;
  /** Metrics labels. */
  readonly route: string;
  readonly model: string;
  /** performance.now() when the request arrived: time to first byte counts from it. */
  readonly startedAt: number;
  /** The request's wall-clock deadline (ms since the epoch). */
  readonly deadline: number;
  /** More headers for the answer (x-ratelimit-*). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RelayDeps {
  /** Puts the request on the bus as stream `id`, its frames and failures to `handlers`; throws coded errors. */
  readonly submit: (id: string, handlers: StreamHandlers) => void;
  /** The stream is no longer wanted: tell its scheduler (StreamClient.cancel). */
  readonly cancel: (id: string) => void;
  /** The relay starts writing the response itself (fastify's reply.hijack). */
  readonly hijack: () => void;
  readonly bus: Pick<BusState, 'up' | 'whenUp'>;
  readonly metrics: Pick<IngressMetrics, 'error' | 'firstByte' | 'chunkGap'>;
  readonly log: Pick<BaseLogger, 'debug' | 'info' | 'warn'>;
  /** The `x-router-worker` value for a head's worker id(s); null: no header. */
  readonly workerHeader: (worker: string) => string | null;
  readonly acceptTimeoutMs: number;
  /** Bytes a client may leave unread before its request is cancelled. */
  readonly maxBufferedBytes: number;
  /** Default: the system's (tests pass their own). */
  readonly clock?: ResubmitClock;
  /** The answer's first body byte went out, `ms` after the request arrived (the audit's first_token). */
  readonly onFirstByte?: (ms: number) => void;
}

/** How the answer went, as far as the relay saw (what the audit's end record says). */
export interface RelayOutcome {
  /** The worker (or `prefill,decode` pair) whose answer it was; null when none answered. */
  readonly worker: string | null;
  readonly usage: Usage | null;
  /** Why a stream that had begun ended abnormally. */
  readonly streamError: RouterError | null;
  /** The client left before the answer ended. */
  readonly clientClosed: boolean;
}

const PHASE = {
  /** Nothing written: an error may still become a normal error reply, or a resubmission. */
  waiting: 'waiting',
  /** The head is written: bytes flow to the client. */
  streaming: 'streaming',
  /** Settled: nothing more is written or submitted. */
  ended: 'ended',
} as const;
type Phase = (typeof PHASE)[keyof typeof PHASE];

function sseError(e: RouterError): string {
  return `data: ${JSON.stringify(openAiError(e))}\n\ndata: [DONE]\n\n`;
}

export class ResponseRelay {
  readonly #res: ServerResponse;
  readonly #r: RelayRequest;
  readonly #d: RelayDeps;
  readonly #policy: ResubmitPolicy;
  readonly #settled: Promise<RouterError | null>;
  #settle: (outcome: RouterError | null) => void = () => undefined;
  #phase: Phase = PHASE.waiting;
  #streamId = '';
  /** performance.now() of the last body write; 0 before the first. */
  #lastWrite = 0;
  /** A JSON answer's head and body, until its end frame. */
  #held: { readonly head: HeadFrame; readonly chunks: Uint8Array[] } | null = null;
  #outcome: { worker: string | null; usage: Usage | null; streamError: RouterError | null; clientClosed: boolean } = {
    worker: null,
    usage: null,
    streamError: null,
    clientClosed: false,
  };

  constructor(res: ServerResponse, r: RelayRequest, d: RelayDeps) {
    this.#res = res;
    this.#r = r;
    this.#d = d;
    this.#policy = new ResubmitPolicy(d.acceptTimeoutMs, r.deadline, d.clock ?? SYSTEM_CLOCK);
    this.#settled = new Promise((resolve) => {
      this.#settle = resolve;
    });
    res.on('close', () => this.#onClose());
  }

  get outcome(): RelayOutcome {
    return this.#outcome;
  }

  /** The id of the stream now carrying the request ('' before the first submission). */
  get streamId(): string {
    return this.#streamId;
  }

  /**
   * Submits the request; resolves once the relay is through. An error: nothing was written, the
   * caller answers with it. Null: the relay answered (or the client left).
   */
  run(): Promise<RouterError | null> {
    this.#submit();
    return this.#settled;
  }

  #submit(): void {
    const id = newId();
    this.#streamId = id;
    this.#held = null;
    try {
      this.#d.submit(id, {
        frame: (f) => this.#onFrame(f),
        fail: (e) => {
          if (id === this.#streamId) this.#onFail(e);
        },
      });
    } catch (e) {
      this.#end(e as RouterError);
    }
  }

  /** The one way out: the outcome is settled once, and nothing happens after. */
  #end(outcome: RouterError | null): void {
    if (this.#phase === PHASE.ended) return;
    this.#phase = PHASE.ended;
    this.#settle(outcome);
  }

  #onFrame(f: Frame): void {
    if (this.#phase === PHASE.ended) return;
    switch (f.kind) {
      case 'accepted':
        return;
      case 'head':
        if (this.#r.stream) this.#writeHead(f);
        else this.#held = { head: f, chunks: [] };
        return;
      case 'data':
        this.#write(f.data);
        return;
      case 'end':
        if (f.usage) this.#outcome.usage = f.usage;
        this.#onEnd(f.error);
        return;
      case 'error':
        // The scheduler's answer, not a lost scheduler: never resubmitted.
        if (this.#phase === PHASE.waiting) this.#end(f.error);
        else this.#endWithError(f.error);
    }
  }

  #onEnd(error: RouterError | undefined): void {
    // A client that left is no error to report: whatever it was sent stands.
    const failed = error !== undefined && error.code !== 'LLMR_ERR_CLIENT_CLOSED' ? error : null;
    const held = this.#held;
    if (held) {
      this.#held = null;
      if (failed) {
        this.#end(failed);
        return;
      }
      this.#writeHead(held.head);
      this.#firstByte(performance.now());
      this.#res.end(Buffer.concat(held.chunks));
      this.#end(null);
      return;
    }
    if (this.#phase === PHASE.waiting) {
      this.#end(errors.LLMR_ERR_UPSTREAM_PROTOCOL('stream ended before its head'));
      return;
    }
    if (failed) {
      this.#endWithError(failed);
      return;
    }
    this.#res.end();
    this.#end(null);
  }

  #writeHead(h: HeadFrame): void {
    this.#d.log.debug({ workerId: h.worker, status: h.status, stream: this.#r.stream }, 'answer started');
    this.#d.hijack();
    this.#outcome.worker = h.worker || null;
    // Which worker (or prefill,decode pair) answered, as --worker-header says to show it.
    const worker = h.worker ? this.#d.workerHeader(h.worker) : null;
    this.#res.writeHead(h.status, {
      ...this.#r.headers,
      'content-type': h.contentType,
      'x-request-id': this.#r.requestId,
      ...(worker ? { 'x-router-worker': worker } : {}),
      ...(this.#r.stream ? { 'cache-control': 'no-cache', 'x-accel-buffering': 'no' } : {}),
    });
    this.#phase = PHASE.streaming;
  }

  #write(data: Uint8Array): void {
    if (this.#held) {
      this.#held.chunks.push(data);
      return;
    }
    if (this.#phase !== PHASE.streaming) return;
    const now = performance.now();
    if (this.#lastWrite === 0) this.#firstByte(now);
    else this.#d.metrics.chunkGap(this.#r.route, this.#r.model, (now - this.#lastWrite) / 1000);
    this.#lastWrite = now;
    if (!this.#res.write(data) && this.#res.writableLength > this.#d.maxBufferedBytes) {
      this.#d.cancel(this.#streamId);
      this.#d.log.warn({ buffered: this.#res.writableLength }, 'client reads too slowly: request cancelled');
      this.#d.metrics.error('LLMR_ERR_SLOW_CLIENT');
      this.#res.destroy();
      this.#end(null);
    }
  }

  #firstByte(now: number): void {
    const ms = now - this.#r.startedAt;
    this.#d.metrics.firstByte(this.#r.route, this.#r.model, ms / 1000);
    this.#d.onFirstByte?.(ms);
  }

  /** After the head: an SSE stream can still say why it ends. */
  #endWithError(e: RouterError): void {
    if (this.#phase !== PHASE.streaming) return;
    this.#outcome.streamError = e;
    this.#d.log.warn({ err: e.message, code: e.code }, 'stream ended with an error');
    this.#d.metrics.error(e.code);
    this.#res.end(sseError(e));
    this.#end(null);
  }

  #onFail(e: RouterError): void {
    if (this.#phase === PHASE.streaming) {
      this.#endWithError(e);
      return;
    }
    if (this.#phase !== PHASE.waiting) return;
    const next = this.#policy.next(e, isNoResponders(e));
    if (next.kind === 'fail') this.#end(e);
    else void this.#resubmit(e, next);
  }

  async #resubmit(cause: RouterError, next: Exclude<Resubmission, { kind: 'fail' }>): Promise<void> {
    if (next.kind === 'wait') {
      // No scheduler subscribed this instant (they re-subscribe a moment after a reconnect, or
      // are restarting): try again shortly, until the accept timeout says there is none.
      if (next.count === 1) this.#d.log.info('no scheduler subscribed yet: waiting for one');
      await new Promise((r) => setTimeout(r, next.ms));
      if (this.#phase !== PHASE.waiting) return;
      if (!this.#policy.acceptOpen()) return this.#end(cause);
    } else {
      this.#d.log.warn({ code: cause.code, resubmits: next.count }, 'scheduler lost before answering: resubmitting');
    }
    if (!this.#d.bus.up && !(await this.#d.bus.whenUp(this.#d.acceptTimeoutMs))) return this.#end(cause);
    if (this.#phase !== PHASE.waiting) return;
    this.#submit();
  }

  #onClose(): void {
    if (this.#phase === PHASE.ended || this.#res.writableFinished) return;
    this.#outcome.clientClosed = true;
    this.#d.cancel(this.#streamId);
    this.#d.log.info('client closed the connection: request cancelled');
    this.#d.metrics.error('LLMR_ERR_CLIENT_CLOSED');
    // Nothing to answer: fastify must not try to.
    if (this.#phase === PHASE.waiting) this.#d.hijack();
    this.#end(null);
  }
}
