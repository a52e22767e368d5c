// llm-d's scorers (docs/ARCHITECTURE.md#policies-are-pipelines-of-small-parts), each a small pure object: the scraped queue
// and KV-cache usage, the router's approximate prefix cache, and in-flight requests.
import type { Candidate, Scorer } from './types.ts';

/** Min-max normalisation where lower raw values score higher; all equal → 1. */
function lowerIsBetter(values: readonly number[]): number[] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return values.map((v) => (max === min ? 1 : (max - v) / (max - min)));
}

/** queue-scorer: the waiting queue the worker reports, min-max normalised. */
export const queueScorer: Scorer = {
  type: 'queue-scorer',
  consumes: ['load.waiting'],
  category: 'distribution',
  score: (cands: readonly Candidate[]) => lowerIsBetter(cands.map((c) => c.worker.load.waiting)),
};

/** kv-cache-utilization-scorer: 1 − KV-cache usage. */
export const kvCacheScorer: Scorer = {
  type: 'kv-cache-utilization-scorer',
  consumes: ['load.kvUsage'],
  category: 'distribution',
  score: (cands: readonly Candidate[]) => cands.map((c) => 1 - c.worker.load.kvUsage),
};

/** prefix-cache-scorer: the fraction of the prompt's blocks the worker is believed to hold. */
export const prefixScorer: Scorer = {
  type: 'prefix-cache-scorer',
  consumes: ['prefix'],
  category: 'affinity',
  score: (cands, req) => cands.map((c, i) => req.prefixMatch?.(c.worker.id, i) ?? 0),
};

/** active-request-scorer: requests in flight from the router, min-max normalised (breaks prefix hot spots). */
export const activeRequestScorer: Scorer = {
  type: 'active-request-scorer',
  consumes: ['inflight'],
  category: 'distribution',
  score: (cands: readonly Candidate[]) => lowerIsBetter(cands.map((c) => c.inflight)),
};
