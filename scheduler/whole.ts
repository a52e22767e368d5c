// A request served whole (a fleet of `both` workers): each attempt picks a worker by the whole
// pool's policy, calls it and passes its answer on.
import { attemptCall, passOn } from './attempt.ts';
import { LazyChild, type RequestLog } from '../runtime/lazy-log.ts';
import type { DispatchDeps } from './dispatch-deps.ts';
import { noWorker, pickWorker } from './pick.ts';
import type { PreparedRequest } from './request.ts';
import { runAttempts, type DispatchOutcome, type Step } from './retry-executor.ts';
import type { StreamWriter } from './stream-writer.ts';

export function dispatchWhole(d: DispatchDeps, r: PreparedRequest, out: StreamWriter): Promise<DispatchOutcome> {
  const log = new LazyChild(d.log, { reqId: r.meta.requestId, model: r.model });
  return runAttempts(d, r, out, wholeStep(d, r, out, log));
}

export function wholeStep(d: DispatchDeps, r: PreparedRequest, out: StreamWriter, log: RequestLog): Step {
  return async ({ n, mayRetry, tried }) => {
    const picked = pickWorker(d, r, 'whole', tried.of('whole'));
    if (!picked) return { kind: 'fatal', error: noWorker(d, r.model) };
    const w = picked.worker;
    tried.add('whole', w.id);
    const load = wholeLoad(r, picked.cachedTokens ?? 0);
    const a = await attemptCall(d, w, r.meta, r.body, r.signal, {
      mayRetry,
      leg: 'whole',
      buffer: !r.meta.stream,
      load,
      requestIdHeader: r.workerRequestId,
      retryStatus: (status) => worthRetrying(d, r.model, status),
    });
    if (a.kind === 'aborted') return { kind: 'aborted', worker: w.id };
    if (a.kind === 'retry') {
      log.warn({ workerId: w.id, err: a.error.message, attempt: n }, 'worker call failed');
      return a;
    }
    log.debug({ workerId: w.id, status: a.res.status, attempt: n }, 'worker answered');
    return passOn(d, a, out, { label: w.id, workerId: w.id, model: r.model, log });
  };
}

/**
 * A 429 or 503 from a worker while every worker of the model is saturated says the fleet is full:
 * trying another would only add to its queues, so it is the answer (counted as a denied retry).
 */
export function worthRetrying(d: Pick<DispatchDeps, 'saturated' | 'events'>, model: string, status: number): boolean {
  if ((status !== 429 && status !== 503) || !d.saturated?.(model)) return true;
  d.events.retryDenied(model, 'fleet_saturated');
  return false;
}

/**
 * What a whole request adds to a worker's load: the prompt tokens the router believes it has not
 * cached (all of them when no policy read the prefix index), then the prompt's KV while it decodes.
 */
export function wholeLoad(r: PreparedRequest, cachedTokens: number): { prefill: number; decode: number } {
  const prompt = r.promptTokensEstimate();
  return { prefill: Math.max(0, prompt - cachedTokens), decode: prompt };
}
