// The summary of a run, with the keys `vllm bench serve --save-result` writes (vLLM's
// docs/benchmarking/cli.md) plus `p50_*` and cached-token figures. Definitions follow vLLM's benchmark:
//
//   TTFT   send → first streamed output, per successful request.
//   ITL    every gap between consecutive streamed outputs, pooled over all requests.
//   TPOT   per request (e2e − TTFT)/(output_tokens − 1), only when output_tokens > 1.
//   E2EL   send → end of the response.
//   mean / median / std (population, numpy's default) / pNN (linear interpolation, numpy's
//   default) over those samples; an empty sample gives 0, as vLLM's `np.mean(x or 0)` does.
//   Throughputs divide by `duration`: from the first measured send to the last measured end.
//   Token totals count successful requests only.
//
// Pure, no I/O.
import { quantileSorted } from '../lib/stats.ts';

/** One finished request, as the summary needs it (a subset of the runner's record). */
export interface RequestOutcome {
  readonly ok: boolean;
  readonly ttftMs: number;
  /** Gaps between consecutive content events. */
  readonly itlMs: readonly number[];
  readonly e2eMs: number;
  /** null when output_tokens ≤ 1. */
  readonly tpotMs: number | null;
  readonly promptTokens: number;
  readonly outputTokens: number;
  readonly cachedTokens: number;
  /** When the request was sent, ms from the start of the measured run (for the peak-throughput bins). */
  readonly sentAtMs: number;
}

export const METRICS = ['ttft', 'tpot', 'itl', 'e2el'] as const;
export type Metric = (typeof METRICS)[number];
export const STATS = ['mean', 'median', 'std', 'p50', 'p90', 'p99'] as const;
export type Stat = (typeof STATS)[number];
export type LatencyKey = `${Stat}_${Metric}_ms`;

export type BenchSummary = {
  readonly duration: number;
  readonly completed: number;
  readonly failed: number;
  readonly total_input_tokens: number;
  readonly total_output_tokens: number;
  readonly request_throughput: number;
  readonly output_throughput: number;
  readonly total_token_throughput: number;
  /** Peak output tokens in any one-second bin of the run (vLLM's "Peak output token throughput"). */
  readonly max_output_tokens_per_s: number;
  readonly max_concurrent_requests: number;
  readonly total_cached_tokens: number;
  readonly mean_cached_tokens: number;
} & { readonly [K in LatencyKey]: number };

/** TPOT of one request; null when it has no second token. */
export function tpotMs(e2eMs: number, ttftMs: number, outputTokens: number): number | null {
  return outputTokens > 1 ? (e2eMs - ttftMs) / (outputTokens - 1) : null;
}

/** mean, median, population std and percentiles of a sample; all 0 for an empty one. */
export function describe(values: readonly number[]): Record<Stat, number> {
  const n = values.length;
  if (n === 0) return { mean: 0, median: 0, std: 0, p50: 0, p90: 0, p99: 0 };
  const s = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i]!;
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (s[i]! - mean) ** 2;
  const median = quantileSorted(s, 0.5);
  return { mean, median, std: Math.sqrt(sq / n), p50: median, p90: quantileSorted(s, 0.9), p99: quantileSorted(s, 0.99) };
}

/** Largest number of output tokens whose arrival falls into one one-second bin (from the run's start). */
export function peakTokensPerSecond(outcomes: readonly RequestOutcome[]): number {
  const bins = new Map<number, number>();
  const add = (atMs: number): void => {
    const b = Math.floor(atMs / 1000);
    bins.set(b, (bins.get(b) ?? 0) + 1);
  };
  for (const r of outcomes) {
    if (!r.ok || r.outputTokens === 0) continue;
    let t = r.sentAtMs + r.ttftMs;
    add(t);
    for (const gap of r.itlMs) {
      t += gap;
      add(t);
    }
  }
  let max = 0;
  for (const v of bins.values()) max = Math.max(max, v);
  return max;
}

export function summarize(outcomes: readonly RequestOutcome[], durationS: number, maxConcurrent: number): BenchSummary {
  const ok = outcomes.filter((r) => r.ok);
  let input = 0;
  let output = 0;
  let cached = 0;
  const ttft: number[] = [];
  const tpot: number[] = [];
  const itl: number[] = [];
  const e2el: number[] = [];
  for (const r of ok) {
    input += r.promptTokens;
    output += r.outputTokens;
    cached += r.cachedTokens;
    ttft.push(r.ttftMs);
    if (r.tpotMs !== null) tpot.push(r.tpotMs);
    for (const g of r.itlMs) itl.push(g);
    e2el.push(r.e2eMs);
  }
  const per = (x: number): number => (durationS > 0 ? x / durationS : 0);
  const latency = {} as Record<LatencyKey, number>;
  const samples: Record<Metric, number[]> = { ttft, tpot, itl, e2el };
  for (const m of METRICS) {
    const d = describe(samples[m]);
    for (const s of STATS) latency[`${s}_${m}_ms`] = d[s];
  }
  return {
    duration: durationS,
    completed: ok.length,
    failed: outcomes.length - ok.length,
    total_input_tokens: input,
    total_output_tokens: output,
    request_throughput: per(ok.length),
    output_throughput: per(output),
    total_token_throughput: per(input + output),
    max_output_tokens_per_s: peakTokensPerSecond(ok),
    max_concurrent_requests: maxConcurrent,
    total_cached_tokens: cached,
    mean_cached_tokens: ok.length > 0 ? cached / ok.length : 0,
    ...latency,
  };
}
