// A run as people and tools read it: a Markdown table laid out like `vllm bench serve`'s printout
// (same rows, same order, its section headings as bold rows), and the JSON `--save-result` writes:
// run metadata plus the summary keys (vLLM's docs/benchmarking/cli.md); with `detailed`, vLLM's per-request
// arrays (`input_lens`, `output_lens`, `ttfts`, `itls` in seconds as vLLM has them,
// `generated_texts`, `errors`) and ours (`cached_tokens`, `session_ids`, `turns`).
// Pure, no I/O.
import type { RunResult } from './run.ts';
import type { BenchSummary, Metric } from './summary.ts';

const SECTIONS: readonly (readonly [Metric, string, string])[] = [
  ['ttft', 'Time to First Token', 'TTFT'],
  ['tpot', 'Time per Output Token (excl. 1st token)', 'TPOT'],
  ['itl', 'Inter-token Latency', 'ITL'],
  ['e2el', 'End-to-end Latency', 'E2EL'],
];

const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : String(x));

/** `inf` for an infinite rate, as vLLM prints and saves it. */
export function rateLabel(rate: number): string {
  return rate === Number.POSITIVE_INFINITY ? 'inf' : String(rate);
}

/** One-line description of the load shape. */
export function loadLabel(r: Pick<RunResult['spec'], 'requestRate' | 'burstiness' | 'maxConcurrency'>): string {
  const rate = r.requestRate === Number.POSITIVE_INFINITY ? 'rate inf' : `rate ${r.requestRate} req/s, burstiness ${r.burstiness}`;
  return r.maxConcurrency === null ? rate : `${rate}, max concurrency ${r.maxConcurrency}`;
}

/** The summary as a two-column Markdown table. */
export function summaryTable(s: BenchSummary, title = 'Serving Benchmark Result'): string {
  const rows: [string, string][] = [
    ['Successful requests', String(s.completed)],
    ['Failed requests', String(s.failed)],
    ['Benchmark duration (s)', f2(s.duration)],
    ['Total input tokens', String(s.total_input_tokens)],
    ['Total generated tokens', String(s.total_output_tokens)],
    ['Request throughput (req/s)', f2(s.request_throughput)],
    ['Output token throughput (tok/s)', f2(s.output_throughput)],
    ['Peak output token throughput (tok/s)', f2(s.max_output_tokens_per_s)],
    ['Peak concurrent requests', String(s.max_concurrent_requests)],
    ['Total Token throughput (tok/s)', f2(s.total_token_throughput)],
    ['Mean cached prompt tokens', f2(s.mean_cached_tokens)],
    ['Prefix cache hit rate (%)', f2(s.total_input_tokens > 0 ? (100 * s.total_cached_tokens) / s.total_input_tokens : 0)],
  ];
  for (const [m, heading, short] of SECTIONS) {
    rows.push([`**${heading}**`, '']);
    rows.push([`Mean ${short} (ms)`, f2(s[`mean_${m}_ms`])]);
    rows.push([`Median ${short} (ms)`, f2(s[`median_${m}_ms`])]);
    rows.push([`P99 ${short} (ms)`, f2(s[`p99_${m}_ms`])]);
  }
  const lines = [`| ${title} | |`, '|:---|---:|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)];
  return lines.join('\n');
}

/** The most common failure messages, for a line under the table. */
export function errorCounts(result: RunResult, top = 5): [string, number][] {
  const counts = new Map<string, number>();
  for (const r of result.records) if (!r.warmup && r.error !== null) counts.set(r.error, (counts.get(r.error) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, top);
}

/** The printout: what ran, the table, and the commonest errors if any. */
export function formatReport(result: RunResult): string {
  const { spec } = result;
  const head = `**${spec.workload.kind}** against ${spec.baseUrl} (model ${spec.model}); ${loadLabel(spec)}; seed ${spec.seed}`;
  const errs = errorCounts(result);
  const tail = errs.length > 0 ? `\n\nErrors:\n${errs.map(([e, n]) => `- ${n}× ${e}`).join('\n')}` : '';
  return `${head}\n\n${summaryTable(result.summary)}${tail}\n`;
}

/** `20250102-030405` (local time), as vLLM stamps result files. */
export function stamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** vLLM's file name: `<backend>-<rate>qps[-concurrency<N>]-<model>-<date>.json`, with the workload as backend. */
export function resultFileName(result: RunResult): string {
  const { spec } = result;
  const conc = spec.maxConcurrency === null ? '' : `-concurrency${spec.maxConcurrency}`;
  const model = spec.model
    .split('/')
    .pop()!
    .replace(/[^\w.-]/g, '_');
  return `${spec.workload.kind}-${rateLabel(spec.requestRate)}qps${conc}-${model}-${stamp(new Date(result.startedAt))}.json`;
}

/** The JSON document to save. */
export function resultJson(result: RunResult, opts: { detailed?: boolean; metadata?: Readonly<Record<string, string>> } = {}): Record<string, unknown> {
  const { spec, summary } = result;
  const out: Record<string, unknown> = {
    date: stamp(new Date(result.startedAt)),
    started_at: result.startedAt,
    backend: spec.workload.kind === 'multi_turn' || ('route' in spec.workload && spec.workload.route === 'chat') ? 'openai-chat' : 'openai',
    base_url: spec.baseUrl,
    model_id: spec.model,
    workload: spec.workload,
    seed: spec.seed,
    num_prompts: spec.numPrompts,
    duration_limit_s: spec.durationS,
    num_warmups: spec.numWarmups,
    request_rate: rateLabel(spec.requestRate),
    burstiness: spec.burstiness,
    max_concurrency: spec.maxConcurrency,
    ...(opts.metadata ?? {}),
    ...summary,
  };
  if (opts.detailed) {
    const measured = result.records.filter((r) => !r.warmup);
    out.input_lens = measured.map((r) => r.promptTokens);
    out.output_lens = measured.map((r) => r.outputTokens);
    out.ttfts = measured.map((r) => r.ttftMs / 1000);
    out.itls = measured.map((r) => r.itlMs.map((g) => g / 1000));
    out.generated_texts = measured.map((r) => r.text ?? '');
    out.errors = measured.map((r) => r.error ?? '');
    out.cached_tokens = measured.map((r) => r.cachedTokens);
    out.session_ids = measured.map((r) => r.sessionId);
    out.turns = measured.map((r) => r.turn);
  }
  return out;
}
