// A policy built from llm-d-style stages (llm-d's scheduler_profile.go; docs/ARCHITECTURE.md#policies-are-pipelines-of-small-parts): filters in
// order (stopping when none remain), then scorers whose [0, 1] scores are clamped, weighted and
// summed, then a picker. It times each stage and keeps an explain record of its last pick.
import type { Candidate, Filter, PickContext, Picker, Policy, RequestFeatures, Scorer } from './types.ts';

export interface WeightedScorer {
  readonly scorer: Scorer;
  readonly weight: number;
}

export interface PipelineConfig {
  readonly filters: readonly Filter[];
  readonly scorers: readonly WeightedScorer[];
  readonly picker: Picker;
}

export interface Explain {
  readonly candidates: number;
  readonly afterFilters: number;
  /** workerId → { scorer type → score, total }. */
  readonly scores: Record<string, Record<string, number>>;
  readonly picked: string | null;
  /** Microseconds per stage. */
  readonly timings: Record<string, number>;
}

const clamp = (x: number): number => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);

export interface PipelinePolicy extends Policy {
  /** What the last pick looked like (for debug logs and tests). */
  readonly lastExplain: Explain | null;
}

export function pipelinePolicy(type: string, c: PipelineConfig): PipelinePolicy {
  for (const w of c.scorers) if (!(w.weight >= 0)) throw new RangeError(`scorer ${w.scorer.type}: weight must be >= 0`);
  const consumes = [...new Set([...c.filters.flatMap((f) => f.consumes), ...c.scorers.flatMap((s) => s.scorer.consumes)])];
  let last: Explain | null = null;
  return {
    type,
    consumes,
    get lastExplain() {
      return last;
    },
    pick(candidates: readonly Candidate[], req: RequestFeatures, ctx: PickContext) {
      const timings: Record<string, number> = {};
      const t0 = performance.now();
      let list = candidates;
      for (const f of c.filters) {
        const s = performance.now();
        const next = f.filter(list, req);
        timings[`filter:${f.type}`] = (performance.now() - s) * 1000;
        if (next.length === 0) break; // a filter never empties the field: the pipeline keeps the last non-empty set
        list = next;
      }
      const totals = new Array<number>(list.length).fill(0);
      const scores: Record<string, Record<string, number>> = {};
      for (const { scorer, weight } of c.scorers) {
        const s = performance.now();
        const out = scorer.score(list, req);
        timings[`score:${scorer.type}`] = (performance.now() - s) * 1000;
        list.forEach((cand, i) => {
          const v = clamp(out[i] ?? 0);
          totals[i]! += v * weight;
          scores[cand.worker.id] ??= {};
          scores[cand.worker.id]![scorer.type] = v;
        });
      }
      for (const [i, cand] of list.entries()) {
        scores[cand.worker.id] ??= {};
        scores[cand.worker.id]!.total = totals[i]!;
      }
      const s = performance.now();
      const picked = c.picker.pick(list, totals, ctx);
      timings[`pick:${c.picker.type}`] = (performance.now() - s) * 1000;
      timings.total = (performance.now() - t0) * 1000;
      last = { candidates: candidates.length, afterFilters: list.length, scores, picked: picked?.worker.id ?? null, timings };
      return picked;
    },
  };
}
