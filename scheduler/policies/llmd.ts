// llmd: llm-d's built-in default scheduling profile (its defaults.go fallback config): prefix-cache
// 3, queue 2, KV-cache utilisation 2, max-score picker. Queue-aware and prefix-aware, as llm-d
// routes a vLLM fleet by default; the benchmarks compare this router against it.
import { pipelinePolicy } from './pipeline.ts';
import { maxScorePicker } from './max-score-picker.ts';
import { kvCacheScorer, prefixScorer, queueScorer } from './scorers.ts';
import type { Policy } from './types.ts';

export const type = 'llmd';

export function llmd(): Policy {
  return pipelinePolicy(type, {
    filters: [],
    scorers: [
      { scorer: prefixScorer, weight: 3 },
      { scorer: queueScorer, weight: 2 },
      { scorer: kvCacheScorer, weight: 2 },
    ],
    picker: maxScorePicker,
  });
}
