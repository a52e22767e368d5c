// Prefill/decode disaggregation for one request (research/vllm-protocol.md §2, vllm-router.md §3).
// Decode first: the decode worker is chosen by the decode policy; the decider says whether to
// prefill elsewhere. If so, a prefill worker (prefill policy) computes the prompt with a
// one-token leg, and the decode worker gets the client's body plus what it needs to fetch the
// KV — NIXL: the prefill answer's `kv_transfer_params`, verbatim; P2P-NCCL: both ZeroMQ
// addresses in a shared request id — and its answer streams to the client with usage as one
// vLLM would report it. Failures:
// - prefill fails before answering → another prefill worker (or, with onPrefillFailure
//   `decode`, at once) and, when none is left, the request whole on the decode worker;
// - decode fails before its first byte → another decode worker with the same KV while the
//   lease holds (NIXL), else prefill again;
// - the client cancels during prefill → the prefill call is aborted and no decode starts.
import { randomUUID } from 'node:crypto';
import { errors, type RouterError } from '../../proto/errors.ts';
import { attemptCall, backoff, deadlineError, relay, type Attempt } from '../attempt.ts';
import { fail, noWorker, pickWorker, type DispatchDeps, type DispatchOutcome, type PreparedRequest } from '../dispatch.ts';
import { CHARS_PER_TOKEN } from '../prompt.ts';
import type { WorkerView } from '../registry.ts';
import type { StreamWriter } from '../stream-writer.ts';
import { decide, type Decision } from './decider.ts';
import { decodeBody, p2pRequestId, prefillBody, readPrefillResponse, type Connector } from './legs.ts';
import { SseUsageRewriter, rewriteCached } from './usage-rewriter.ts';

const encoder = new TextEncoder();

/** A finished prefill whose KV a decode worker can still fetch. */
interface Prefilled {
  readonly prefill: WorkerView;
  readonly connector: Connector;
  readonly kvTransferParams: unknown;
  readonly requestIdHeader: string;
  /** The prefill worker's own prefix-cache hits: what one vLLM would have reported. */
  readonly cachedTokens: number | null;
  readonly at: number;
  /** P2P-NCCL pushes KV to one named decode worker; NIXL lets any decode worker pull it. */
  readonly boundTo: string | null;
}

function connectorOf(w: WorkerView): Connector | null {
  return w.connector.kind === 'nixl' || w.connector.kind === 'p2p-nccl' ? w.connector.kind : null;
}

/**
 * A P2P-NCCL decode instance is a pure KV consumer: vLLM's connector refuses any request whose
 * id does not name a prefill peer to take the KV from, so it can never compute a prompt itself.
 * Only a `both` instance (kv_both) may serve a P2P-NCCL request whole.
 */
function consumerOnly(w: WorkerView): boolean {
  return w.connector.kind === 'p2p-nccl' && w.role === 'decode';
}

export async function dispatchPd(d: DispatchDeps, r: PreparedRequest, out: StreamWriter): Promise<DispatchOutcome> {
  const log = d.log.child({ reqId: r.meta.requestId, model: r.model });
  const body = r.json();
  if (body === null) return fail(out, errors.LLMR_ERR_INVALID_JSON('the request body is not JSON'), 0);
  const tokens = r.promptTokens();
  const chain = r.prefixChain();

  const triedDecode = new Set<string>();
  const triedPrefill = new Set<string>();
  let prefilled = null as Prefilled | null;
  let wholeOnly = false;
  let lastError: RouterError | null = null;
  let decision: Decision | undefined;

  for (let attempt = 1; attempt <= d.retry.maxAttempts; attempt++) {
    if (r.signal.aborted) return { worker: null, status: null, attempts: attempt - 1, error: null };
    const mayRetry = attempt < d.retry.maxAttempts;

    // Decode first (a bound P2P prefill can only go to the decode worker it named).
    const bound: string | null = prefilled?.boundTo ?? null;
    // Once no prefill leg can run, only workers that can compute a prompt themselves will do.
    const pickedDecode = bound ? null : pickWorker(d, r, 'decode', triedDecode, (w) => w.role !== 'prefill' && !(wholeOnly && consumerOnly(w)));
    const decodeWorker: WorkerView | undefined = bound ? d.registry.get(bound) : pickedDecode?.worker;
    if (!decodeWorker || decodeWorker.state !== 'ready') {
      if (bound) {
        prefilled = null;
        attempt--;
        continue;
      }
      return fail(out, noWorker(d, r.model), attempt - 1);
    }

    let legs: 'whole' | 'pd' = 'whole';
    if (!wholeOnly && !prefilled) {
      const prefillCandidates = d.registry.candidates(r.model, 'prefill').filter((w) => w.id !== decodeWorker.id && connectorOf(w) === connectorOf(decodeWorker));
      // As the index stood before this pick (a prefix-reading policy records its pick at once).
      const cached = pickedDecode?.cachedTokens ?? Math.floor(d.prefix.matchedChars(decodeWorker.id, chain) / CHARS_PER_TOKEN);
      decision =
        connectorOf(decodeWorker) === null
          ? 'no_prefill_worker'
          : decide(
              d.pd.decider,
              tokens,
              cached,
              prefillCandidates.map((w) => ({ waiting: w.load.waiting, kvUsage: w.load.kvUsage, inflight: d.inflight.total(w.id), queuedTokens: d.inflight.tokens(w.id).prefill })),
              d.inflight.tokens(decodeWorker.id).prefill,
            );
      // A consumer-only worker cannot take the prompt whole: with a prefill worker to pair it
      // with, a short or cached prompt is disaggregated anyway; without one, it cannot be served.
      if (consumerOnly(decodeWorker) && decision !== 'disaggregate' && prefillCandidates.length > 0) decision = 'disaggregate';
      if (attempt === 1) d.events.decision(r.model, decision);
      log.debug({ decision, promptTokens: tokens, cachedOnDecode: cached, decodeWorker: decodeWorker.id }, 'disaggregation decision');
      if (decision === 'no_prefill_worker' && (d.pd.strict || consumerOnly(decodeWorker))) return fail(out, noWorker(d, r.model), attempt - 1);
      legs = decision === 'disaggregate' ? 'pd' : 'whole';
    } else if (prefilled) legs = 'pd';

    if (legs === 'whole') {
      triedDecode.add(decodeWorker.id);
      const cachedHere = pickedDecode?.cachedTokens ?? Math.floor(d.prefix.matchedChars(decodeWorker.id, chain) / CHARS_PER_TOKEN);
      const a = await attemptCall(d, decodeWorker, r.model, r.meta, r.body, r.signal, { mayRetry, leg: 'whole', buffer: !r.meta.stream, load: { prefill: Math.max(0, tokens - cachedHere), decode: tokens }, requestIdHeader: r.workerRequestId });
      const done = await finishOrRetry(a, decodeWorker.id, null);
      if (done) return { ...done, attempts: attempt, ...(decision ? { decision } : {}) };
    } else {
      // Prefill leg, unless a prefill's KV is still there to fetch.
      if (!prefilled || Date.now() - prefilled.at > d.pd.kvLeaseMs * 0.8) {
        prefilled = null;
        // Each prefill worker once: when all have failed, the decode worker computes the prompt itself.
        const pickedPrefill = pickWorker(d, r, 'prefill', triedPrefill, (w) => !triedPrefill.has(w.id) && w.id !== decodeWorker.id && connectorOf(w) === connectorOf(decodeWorker));
        if (!pickedPrefill) {
          wholeOnly = true;
          attempt--;
          continue;
        }
        const p = pickedPrefill.worker;
        triedPrefill.add(p.id);
        const connector: Connector = connectorOf(decodeWorker)!;
        const requestIdHeader: string =
          connector === 'p2p-nccl' ? p2pRequestId(p.connector.zmqAddress ?? p.url, decodeWorker.connector.zmqAddress ?? decodeWorker.url, randomUUID().replaceAll('-', '')) : r.workerRequestId;
        const pa = await attemptCall(d, p, r.model, r.meta, encoder.encode(JSON.stringify(prefillBody(body, connector))), r.signal, {
          mayRetry: true,
          leg: 'prefill',
          buffer: true,
          requestIdHeader,
          load: { prefill: Math.max(0, tokens - (pickedPrefill.cachedTokens ?? Math.floor(d.prefix.matchedChars(p.id, chain) / CHARS_PER_TOKEN))), decode: 0 },
        });
        if (pa.kind === 'aborted') return { worker: p.id, status: null, attempts: attempt, error: null };
        if (pa.kind === 'retry') {
          log.warn({ workerId: p.id, err: pa.error.message, attempt }, 'prefill leg failed');
          d.events.retry(r.model, `prefill_${pa.reason}`);
          lastError = pa.error;
          if (d.pd.onPrefillFailure === 'decode') wholeOnly = true;
          const go = await pause(attempt);
          if (go) return go;
          continue;
        }
        if (pa.res.status >= 400) {
          // A client error: the decode worker would refuse it too; pass it on.
          try {
            const { error } = await relay(pa, out, p.id, r.model, d, log);
            return { worker: p.id, status: pa.res.status, attempts: attempt, error, decision: 'disaggregate' };
          } finally {
            pa.release();
          }
        }
        d.events.leg('prefill', (performance.now() - pa.startedAt) / 1000);
        let answer: unknown;
        try {
          answer = JSON.parse(new TextDecoder().decode(pa.buffered ?? new Uint8Array(0)));
        } catch (e) {
          pa.release();
          lastError = errors.LLMR_ERR_UPSTREAM_PROTOCOL(`the prefill worker sent a body that is not JSON: ${(e as Error).message}`);
          const go = await pause(attempt);
          if (go) return go;
          continue;
        }
        pa.release();
        const pr = readPrefillResponse(answer);
        if (connector === 'nixl' && pr.kvTransferParams === undefined) log.warn({ workerId: p.id }, 'prefill answer carries no kv_transfer_params: the decode worker will compute the prompt');
        d.prefix.insert(p.id, chain);
        prefilled = {
          prefill: p,
          connector,
          kvTransferParams: connector === 'nixl' ? pr.kvTransferParams : undefined,
          requestIdHeader,
          cachedTokens: pr.cachedTokens,
          at: Date.now(),
          boundTo: connector === 'p2p-nccl' ? decodeWorker.id : null,
        };
      }
      if (r.signal.aborted) return { worker: null, status: null, attempts: attempt, error: null };
      // Decode leg.
      triedDecode.add(decodeWorker.id);
      const da = await attemptCall(d, decodeWorker, r.model, r.meta, encoder.encode(JSON.stringify(decodeBody(body, prefilled.kvTransferParams))), r.signal, {
        mayRetry,
        leg: 'decode',
        buffer: !r.meta.stream,
        requestIdHeader: prefilled.requestIdHeader,
        // The prompt's KV arrives from the prefill worker and is held from the start.
        load: { prefill: 0, decode: tokens },
      });
      if (da.kind === 'answer') d.events.leg('decode', (performance.now() - da.startedAt) / 1000);
      const label = `${prefilled.prefill.id},${decodeWorker.id}`;
      const usedKv = prefilled;
      // P2P-NCCL's KV went to this decode worker only; NIXL's stays fetchable by another.
      if (da.kind === 'retry' && prefilled.connector === 'p2p-nccl') prefilled = null;
      const done = await finishOrRetry(da, label, usedKv);
      if (done) return { ...done, attempts: attempt, decision: 'disaggregate' };
    }
    const go = await pause(attempt);
    if (go) return go;
  }
  return fail(out, lastError ?? errors.LLMR_ERR_UPSTREAM_UNREACHABLE('no attempt was made'), d.retry.maxAttempts);

  /** Relays an answer (returns the outcome) or records a retryable failure (returns null). */
  async function finishOrRetry(a: Attempt, label: string, kv: Prefilled | null): Promise<Omit<DispatchOutcome, 'attempts'> | null> {
    if (a.kind === 'aborted') return { worker: label, status: null, error: null };
    if (a.kind === 'retry') {
      log.warn({ workerId: label, err: a.error.message }, 'decode call failed');
      d.events.retry(r.model, a.reason);
      lastError = a.error;
      return null;
    }
    const decodeId = label.slice(label.indexOf(',') + 1);
    d.prefix.insert(decodeId, chain);
    try {
      const rewrite = kv && kv.cachedTokens !== null && a.res.status < 300 ? kv.cachedTokens : null;
      const transform =
        rewrite === null ? undefined : /^text\/event-stream/.test(a.res.contentType) ? new SseUsageRewriter(rewrite) : jsonRewriter(rewrite); // a JSON answer is small: rewrite it whole
      const { error } = await relay(a, out, label, r.model, d, log, transform);
      if (error) d.breakers.failure(decodeId);
      return { worker: label, status: a.res.status, error };
    } finally {
      a.release();
    }
  }

  /** Backoff before the next attempt; an outcome when the request must stop instead. */
  async function pause(attempt: number): Promise<DispatchOutcome | null> {
    if (attempt >= d.retry.maxAttempts) return null;
    const go = await backoff(d, attempt, r.meta, r.signal);
    if (go === 'aborted') return { worker: null, status: null, attempts: attempt, error: null };
    if (go === 'deadline') return fail(out, deadlineError(r.meta), attempt);
    return null;
  }
}

/** Buffers a JSON body and rewrites its usage at the end. */
function jsonRewriter(cachedTokens: number): { push(c: Uint8Array): Uint8Array; flush(): Uint8Array } {
  const parts: Uint8Array[] = [];
  return {
    push(c) {
      parts.push(c);
      return new Uint8Array(0);
    },
    flush() {
      return encoder.encode(rewriteCached(Buffer.concat(parts).toString('utf8'), cachedTokens));
    },
  };
}
