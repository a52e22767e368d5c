// Step 3 of a P/D attempt: a prefill worker that can pair with the decode worker computes the
// prompt with a one-token leg (legs.ts) and answers what the decode worker needs to get the KV.
// Each prefill worker is tried once per request: when all have failed, 'none_left', and the
// decode worker computes the prompt itself.
import { randomUUID } from 'node:crypto';
import { errors } from '../../proto/errors.ts';
import { attemptCall, passOn } from '../attempt.ts';
import { cachedTokensOn, pickWorker } from '../pick.ts';
import type { WorkerView } from '../registry.ts';
import type { AttemptContext, StepResult } from '../retry-executor.ts';
import type { PdContext } from './context.ts';
import type { Prefilled } from './kv.ts';
import { p2pRequestId, prefillBody, readPrefillResponse, type Connector } from './legs.ts';
import { connectorOf } from './workers.ts';

export type PrefillResult =
  | { readonly kind: 'prefilled'; readonly kv: Prefilled }
  | { readonly kind: 'none_left' }
  /** A client error passed on ('answered'), a failure to retry, or the client gone. */
  | Exclude<StepResult, { readonly kind: 'fatal' }>;

export async function prefillLeg(c: PdContext, { n, tried }: AttemptContext, decode: WorkerView, connector: Connector): Promise<PrefillResult> {
  const { d, r, log } = c;
  const triedPrefill = tried.of('prefill');
  const picked = pickWorker(d, r, 'prefill', triedPrefill, (w) => !triedPrefill.has(w.id) && w.id !== decode.id && connectorOf(w) === connector);
  if (!picked) return { kind: 'none_left' };
  const p = picked.worker;
  tried.add('prefill', p.id);
  const requestIdHeader = connector === 'p2p-nccl' ? p2pRequestId(p.connector.zmqAddress ?? p.url, decode.connector.zmqAddress ?? decode.url, randomUUID().replaceAll('-', '')) : r.workerRequestId;
  const cached = picked.cachedTokens ?? cachedTokensOn(d.prefix, p.id, r.prefixChain());
  const a = await attemptCall(d, p, r.meta, new TextEncoder().encode(JSON.stringify(prefillBody(c.body, connector))), r.signal, {
    // The prefill worker's own failure is never the client's answer: the decode worker can still compute the prompt.
    mayRetry: true,
    leg: 'prefill',
    buffer: true,
    requestIdHeader,
    load: { prefill: Math.max(0, r.promptTokens() - cached), decode: 0 },
  });
  if (a.kind === 'aborted') return { kind: 'aborted', worker: p.id };
  if (a.kind === 'retry') {
    log.warn({ workerId: p.id, err: a.error.message, attempt: n }, 'prefill leg failed');
    return { kind: 'retry', error: a.error, reason: `prefill_${a.reason}` };
  }
  if (a.res.status >= 400) {
    // A client error: the decode worker would refuse it too; pass it on.
    return { ...(await passOn(d, a, c.out, { label: p.id, workerId: p.id, model: r.model, log })), decision: 'disaggregate' };
  }
  d.events.leg('prefill', (performance.now() - a.startedAt) / 1000);
  let answer: unknown;
  try {
    answer = JSON.parse(new TextDecoder().decode(a.buffered ?? new Uint8Array(0)));
  } catch (e) {
    log.warn({ workerId: p.id, err: (e as Error).message, attempt: n }, 'prefill leg failed');
    return { kind: 'retry', error: errors.LLMR_ERR_UPSTREAM_PROTOCOL(`the prefill worker sent a body that is not JSON: ${(e as Error).message}`), reason: 'prefill_protocol' };
  } finally {
    a.release();
  }
  const pr = readPrefillResponse(answer);
  if (connector === 'nixl' && pr.kvTransferParams === undefined) log.warn({ workerId: p.id }, 'prefill answer carries no kv_transfer_params: the decode worker will compute the prompt');
  d.prefix.insert(p.id, r.prefixChain());
  return {
    kind: 'prefilled',
    kv: {
      prefill: p,
      connector,
      kvTransferParams: connector === 'nixl' ? pr.kvTransferParams : undefined,
      requestIdHeader,
      cachedTokens: pr.cachedTokens,
      at: Date.now(),
    },
  };
}
