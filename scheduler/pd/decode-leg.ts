// Step 4 of a P/D attempt, the call to the decode worker: the decode leg (the client's body plus
// what fetches the prompt's KV), or the request whole when the plan says the decode worker
// computes the prompt itself. Either way its answer streams to the client.
import { attemptCall, passOn, type Answer, type PassedOn } from '../attempt.ts';
import type { WorkerView } from '../registry.ts';
import { worthRetrying } from '../whole.ts';
import type { AttemptContext, StepResult } from '../retry-executor.ts';
import type { PdContext } from './context.ts';
import type { Decision } from './decider.ts';
import type { Prefilled } from './kv.ts';
import { decodeBody } from './legs.ts';
import { usageRewriter } from './usage-rewriter.ts';

export async function decodeLeg(c: PdContext, { mayRetry, tried }: AttemptContext, decode: WorkerView, kv: Prefilled): Promise<StepResult> {
  const { d, r } = c;
  tried.add('decode', decode.id);
  const a = await attemptCall(d, decode, r.meta, new TextEncoder().encode(JSON.stringify(decodeBody(c.body, kv.kvTransferParams))), r.signal, {
    mayRetry,
    leg: 'decode',
    buffer: !r.meta.stream,
    requestIdHeader: kv.requestIdHeader,
    // The prompt's KV arrives from the prefill worker and is held from the start.
    load: { prefill: 0, decode: r.promptTokens() },
    retryStatus: (status) => worthRetrying(d, r.model, status),
  });
  const label = `${kv.prefill.id},${decode.id}`;
  if (a.kind === 'aborted') return { kind: 'aborted', worker: label, decision: 'disaggregate' };
  if (a.kind === 'retry') return failed(c, a, label);
  d.events.leg('decode', (performance.now() - a.startedAt) / 1000);
  // The decode worker counts the KV it pulled as cached; one vLLM would have reported the prefill worker's own hits.
  const cachedTokens = a.res.status < 300 ? kv.cachedTokens : null;
  return { ...(await passOnDecoded(c, a, label, decode.id, cachedTokens)), decision: 'disaggregate' };
}

/** `cachedTokens`: what the prefix index believes `decode` has cached (its prompt load). */
export async function wholeOnDecode(c: PdContext, { mayRetry, tried }: AttemptContext, decode: WorkerView, cachedTokens: number, decision: Decision | undefined): Promise<StepResult> {
  const { d, r } = c;
  tried.add('decode', decode.id);
  const tokens = r.promptTokens();
  const a = await attemptCall(d, decode, r.meta, r.body, r.signal, {
    mayRetry,
    leg: 'whole',
    buffer: !r.meta.stream,
    load: { prefill: Math.max(0, tokens - cachedTokens), decode: tokens },
    requestIdHeader: r.workerRequestId,
    retryStatus: (status) => worthRetrying(d, r.model, status),
  });
  const decided = decision ? { decision } : {};
  if (a.kind === 'aborted') return { kind: 'aborted', worker: decode.id, ...decided };
  if (a.kind === 'retry') return failed(c, a, decode.id);
  return { ...(await passOnDecoded(c, a, decode.id, decode.id, null)), ...decided };
}

function failed(c: PdContext, a: Extract<StepResult, { kind: 'retry' }>, label: string): StepResult {
  c.log.warn({ workerId: label, err: a.error.message }, 'decode call failed');
  return a;
}

/** The decode worker now holds the prompt: the prefix index learns it, and the answer passes on (usage rewritten with `cachedTokens`). */
function passOnDecoded(c: PdContext, a: Answer, label: string, decodeId: string, cachedTokens: number | null): Promise<PassedOn> {
  c.d.prefix.insert(decodeId, c.r.prefixChain());
  const transform = cachedTokens === null ? undefined : usageRewriter(a.res.contentType, cachedTokens);
  return passOn(c.d, a, c.out, { label, workerId: decodeId, model: c.r.model, log: c.log, transform });
}
