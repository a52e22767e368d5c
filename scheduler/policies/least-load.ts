// least_load: the worker that would start this request's prompt soonest without piling KV onto
// one engine. Its cost follows Dynamo's KV router's (docs/ARCHITECTURE.md#load-the-router-predicts-not-load-it-is-told), in tokens:
//
//   cost(w) = prompt tokens w still has to compute + this prompt's tokens w has not cached
//             + decodeWeight × KV tokens w's decoding requests hold
//
// from load the router predicts itself (every replica's in-flight requests, synced on
// llm.v1.sched.sync) instead of heartbeats that are a fraction of a second old: a burst of
// requests sees each of its own picks at once, so it does not herd onto the worker that looked
// idle in the last report. Prefill-side terms decide time to first token; the decode term spreads
// KV so that no engine runs out of blocks and preempts. Lowest cost wins; ties go at random.
import type { Candidate, Policy } from './types.ts';

export const type = 'least_load';

export interface LeastLoadParams {
  /**
   * Weight of held KV tokens against prompt tokens still to compute. A decoding sequence slows
   * every step of its engine a little; a queued prompt delays the next first token by all of it.
   */
  readonly decodeWeight: number;
}

export const LEAST_LOAD_DEFAULTS: LeastLoadParams = Object.freeze({ decodeWeight: 0.25 });

/** The policy's cost of sending a request of `promptTokens` (with `cachedFraction` cached there) to `c`. */
export function leastLoadCost(c: Candidate, promptTokens: number, cachedFraction: number, p: LeastLoadParams = LEAST_LOAD_DEFAULTS): number {
  const t = c.tokens;
  const uncached = promptTokens * (1 - Math.min(1, Math.max(0, cachedFraction)));
  return (t?.prefill ?? 0) + uncached + p.decodeWeight * (t?.decode ?? 0);
}

export function leastLoad(params: Partial<LeastLoadParams> = {}): Policy {
  const p = { ...LEAST_LOAD_DEFAULTS, ...params };
  if (!(p.decodeWeight >= 0 && Number.isFinite(p.decodeWeight))) throw new RangeError(`least_load decodeWeight must be a finite number >= 0, got ${p.decodeWeight}`);
  return {
    type,
    consumes: ['tokens', 'prefix', 'promptTokens', 'inflight'],
    pick(candidates, req, ctx) {
      const prompt = req.promptTokens ?? 0;
      let best: Candidate[] = [];
      let bestCost = Infinity;
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[i]!;
        // Requests in flight break ties between equal token loads (a request the router could not size still counts).
        const cost = leastLoadCost(c, prompt, req.prefixMatch?.(c.worker.id, i) ?? 0, p) + c.inflight * 1e-6;
        if (cost < bestCost) {
          bestCost = cost;
          best = [c];
        } else if (cost === bestCost) best.push(c);
      }
      return best.length <= 1 ? best[0] : best[Math.floor(ctx.random() * best.length)];
    },
  } satisfies Policy;
}
