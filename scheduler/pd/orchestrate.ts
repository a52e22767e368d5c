// Prefill/decode disaggregation for one request (docs/ARCHITECTURE.md). Each attempt, run by the
// retry executor, is four steps:
// 1. pick the decode worker (decode policy) — decode first;
// 2. plan (plan.ts): prefill elsewhere, or compute the prompt on the decode worker;
// 3. the prefill leg (prefill-leg.ts): a prefill worker computes the prompt and answers what the
//    decode worker needs to get the KV — NIXL: `kv_transfer_params`, passed on verbatim;
//    P2P-NCCL: both ZeroMQ addresses in a shared request id;
// 4. the decode leg (decode-leg.ts), whose answer streams to the client with usage as one vLLM
//    would report it.
// Across attempts a request remembers two things:
// - when no prefill leg can run any more (every prefill worker failed, or one failed with
//   `--pd-on-prefill-failure decode`), it is served whole by a decode worker that can compute it;
// - when a decode worker fails before its first byte, the prefill's KV: with NIXL another decode
//   worker fetches it while the lease holds; P2P-NCCL's went to that decode worker only, and the
//   request is planned again.
// The client cancelling during prefill aborts the prefill call, and no decode starts.
import { errors, type RouterError } from '../../proto/errors.ts';
import { LazyChild } from '../../runtime/lazy-log.ts';
import type { DispatchDeps } from '../dispatch-deps.ts';
import { cachedTokensOn, noWorker, pickWorker } from '../pick.ts';
import type { WorkerView } from '../registry.ts';
import type { PreparedRequest } from '../request.ts';
import { fail, runAttempts, type AttemptContext, type DispatchOutcome, type StepResult } from '../retry-executor.ts';
import type { StreamWriter } from '../stream-writer.ts';
import type { PdContext } from './context.ts';
import type { Decision } from './decider.ts';
import { decodeLeg, wholeOnDecode } from './decode-leg.ts';
import { reusable, type Prefilled } from './kv.ts';
import type { Connector } from './legs.ts';
import { plan } from './plan.ts';
import { prefillLeg } from './prefill-leg.ts';
import { connectorOf, consumerOnly } from './workers.ts';

export async function dispatchPd(d: DispatchDeps, r: PreparedRequest, out: StreamWriter): Promise<DispatchOutcome> {
  const body = r.json();
  if (body === null) return fail(out, errors.LLMR_ERR_INVALID_JSON('the request body is not JSON'), 0);
  const request = new PdRequest({ d, r, body, out, log: new LazyChild(d.log, { reqId: r.meta.requestId, model: r.model }) });
  return runAttempts(d, r, out, (ctx) => request.attempt(ctx));
}

/** Where an attempt goes once the decode worker is chosen (steps 1 and 2). */
type Route =
  | { readonly kind: 'fatal'; readonly error: RouterError }
  | { readonly kind: 'whole'; readonly decode: WorkerView; readonly cachedTokens: number }
  | { readonly kind: 'pd'; readonly decode: WorkerView; readonly connector: Connector };

/** One disaggregated request: its attempts, and what they leave for the next. */
class PdRequest {
  readonly #c: PdContext;
  /** No prefill leg can run any more: the prompt is computed where it is decoded. */
  #wholeOnly = false;
  /** The last prefill, while its KV may still serve a decode retry. */
  #kv: Prefilled | null = null;
  /** The latest plan's decision (the first one is counted in the metrics). */
  #decision: Decision | undefined;

  constructor(c: PdContext) {
    this.#c = c;
  }

  async attempt(ctx: AttemptContext): Promise<StepResult> {
    const route = this.#route(ctx);
    if (route.kind !== 'pd') return this.#serveWhole(ctx, route);
    let kv = this.#kv && reusable(this.#kv, Date.now(), this.#c.d.pd.kvLeaseMs) ? this.#kv : null;
    if (!kv) {
      this.#kv = null;
      const p = await prefillLeg(this.#c, ctx, route.decode, route.connector);
      if (p.kind === 'none_left') {
        // Every prefill worker that could pair has failed: a decode worker computes the prompt.
        this.#wholeOnly = true;
        return this.#serveWhole(ctx, this.#wholeRoute(ctx));
      }
      if (p.kind !== 'prefilled') {
        if (p.kind === 'retry' && this.#c.d.pd.onPrefillFailure === 'decode') this.#wholeOnly = true;
        return p;
      }
      kv = this.#kv = p.kv;
    }
    if (this.#c.r.signal.aborted) return { kind: 'aborted', worker: null };
    const decoded = await decodeLeg(this.#c, ctx, route.decode, kv);
    // P2P-NCCL pushed the KV to this decode worker only: the next attempt plans afresh.
    if (decoded.kind === 'retry' && kv.connector === 'p2p-nccl') this.#kv = null;
    return decoded;
  }

  /** Steps 1 and 2: the decode worker, then whether to prefill elsewhere. */
  #route(ctx: AttemptContext): Route {
    if (this.#wholeOnly) return this.#wholeRoute(ctx);
    const { d, r, log } = this.#c;
    const picked = pickWorker(d, r, 'decode', ctx.tried.of('decode'), (w) => w.role !== 'prefill');
    if (!picked) return { kind: 'fatal', error: noWorker(d, r.model) };
    const decode = picked.worker;
    const connector = connectorOf(decode);
    // A decode retry after a prefill stays disaggregated, with the same KV while it is reusable.
    if (this.#kv) return { kind: 'pd', decode, connector: connector ?? this.#kv.connector };
    // As the index stood before this pick (a prefix-reading policy records its pick at once).
    const cachedTokens = picked.cachedTokens ?? cachedTokensOn(d.prefix, decode.id, r.prefixChain());
    const prefill = d.registry.candidates(r.model, 'prefill').filter((w) => w.id !== decode.id && connectorOf(w) === connector);
    const p = plan(d.pd, {
      promptTokens: r.promptTokens(),
      cachedOnDecode: cachedTokens,
      decodeQueuedTokens: d.inflight.tokens(decode.id).prefill,
      connector,
      consumerOnly: consumerOnly(decode),
      prefill: prefill.map((w) => ({ waiting: w.load.waiting, kvUsage: w.load.kvUsage, inflight: d.inflight.total(w.id), queuedTokens: d.inflight.tokens(w.id).prefill })),
    });
    if (this.#decision === undefined) d.events.decision(r.model, p.decision);
    this.#decision = p.decision;
    log.debug({ decision: p.decision, promptTokens: r.promptTokens(), cachedOnDecode: cachedTokens, decodeWorker: decode.id }, 'disaggregation decision');
    if (p.legs === 'none') return { kind: 'fatal', error: noWorker(d, r.model) };
    if (p.legs === 'pd' && connector !== null) return { kind: 'pd', decode, connector }; // 'pd' implies a connector
    return { kind: 'whole', decode, cachedTokens };
  }

  /** Step 1 once no prefill leg can run: only a decode worker that can compute the prompt will do. */
  #wholeRoute(ctx: AttemptContext): Extract<Route, { kind: 'fatal' | 'whole' }> {
    const { d, r } = this.#c;
    const picked = pickWorker(d, r, 'decode', ctx.tried.of('decode'), (w) => w.role !== 'prefill' && !consumerOnly(w));
    if (!picked) return { kind: 'fatal', error: noWorker(d, r.model) };
    return { kind: 'whole', decode: picked.worker, cachedTokens: picked.cachedTokens ?? cachedTokensOn(d.prefix, picked.worker.id, r.prefixChain()) };
  }

  /** Step 4 without step 3: the decode worker computes the prompt itself. */
  #serveWhole(ctx: AttemptContext, route: Extract<Route, { kind: 'fatal' | 'whole' }>): Promise<StepResult> | StepResult {
    if (route.kind === 'fatal') return route;
    return wholeOnDecode(this.#c, ctx, route.decode, route.cachedTokens, this.#decision);
  }
}
