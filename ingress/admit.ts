// The HTTP side of admission (admission.ts): a request's flow and priority from its key and body,
// a slot or a coded 429 with Retry-After, the queue left when the client goes away, and what
// happened counted. The route holds the slot until its answer has ended.
import type { ServerResponse } from 'node:http';
import { errors, type RouterError } from '../proto/errors.ts';
import type { Admission, Admitted, Slot } from './admission.ts';
import { isPriority, PRIORITY_RANGE } from '../proto/request-meta.ts';
import type { IngressMetrics } from './metrics.ts';

/** The priority a request is served at, and whether that differs from what its body asked. */
export function requestPriority(body: Record<string, unknown>, best: number): { priority: number; clamped: boolean } {
  const asked = body.priority;
  if (asked === undefined || asked === null) return { priority: Math.max(0, best), clamped: false };
  if (!isPriority(asked)) {
    const e = errors.LLMR_ERR_INVALID_REQUEST(`priority must be an integer from ${PRIORITY_RANGE.min} to ${PRIORITY_RANGE.max}.`);
    e.param = 'priority';
    throw e;
  }
  return asked < best ? { priority: best, clamped: true } : { priority: asked, clamped: false };
}

/**
 * A slot for the request, or null when its client left while it waited (nothing to answer).
 * Throws LLMR_ERR_QUEUE_FULL / LLMR_ERR_QUEUE_TIMEOUT (429, with Retry-After) on a refusal.
 */
export async function admit(a: Admission, flow: string, priority: number, res: ServerResponse, metrics: Pick<IngressMetrics, 'admission'>): Promise<Slot | null> {
  const entered = a.enter(flow, priority);
  const queued = 'result' in entered;
  let got: Admitted;
  if (queued) {
    const onClose = (): void => entered.leave();
    res.once('close', onClose);
    got = await entered.result;
    res.off('close', onClose);
  } else got = entered;
  metrics.admission(got.ok ? (queued ? 'queued' : 'admitted') : got.why, (got.ok ? got.slot.waitedMs : got.waitedMs) / 1000);
  if (got.ok) return got.slot;
  if (got.why === 'closed') return null;
  const e: RouterError = got.why === 'full' ? errors.LLMR_ERR_QUEUE_FULL() : errors.LLMR_ERR_QUEUE_TIMEOUT(String(Math.round(got.waitedMs)));
  e.retryAfterS = a.retryAfterS();
  throw e;
}
