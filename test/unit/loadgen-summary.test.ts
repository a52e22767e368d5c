// bench/loadgen summary and report: vLLM's definitions on known inputs, and the keys
// `vllm bench serve --save-result` writes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { describe as stats, METRICS, peakTokensPerSecond, summarize, tpotMs, type RequestOutcome } from '../../bench/loadgen/summary.ts';
import { rateLabel, resultFileName, resultJson, summaryTable } from '../../bench/loadgen/report.ts';
import type { RunResult } from '../../bench/loadgen/run.ts';
import { resolveRunSpec } from '../../bench/loadgen/run.ts';

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} ≠ ${b}`);

function outcome(o: Partial<RequestOutcome>): RequestOutcome {
  return { ok: true, ttftMs: 0, itlMs: [], e2eMs: 0, tpotMs: null, promptTokens: 0, outputTokens: 0, cachedTokens: 0, sentAtMs: 0, ...o };
}

// Two successes and one failure, with hand-computed figures.
const A = outcome({ ttftMs: 10, itlMs: [5, 7, 9], e2eMs: 31, tpotMs: tpotMs(31, 10, 4), promptTokens: 100, outputTokens: 4, cachedTokens: 64, sentAtMs: 0 });
const B = outcome({ ttftMs: 30, itlMs: [], e2eMs: 30, tpotMs: tpotMs(30, 30, 1), promptTokens: 50, outputTokens: 1, cachedTokens: 0, sentAtMs: 1500 });
const F = outcome({ ok: false, ttftMs: 0, e2eMs: 120_000, promptTokens: 999, outputTokens: 0, sentAtMs: 10 });

const VLLM_KEYS = [
  'duration',
  'completed',
  'failed',
  'total_input_tokens',
  'total_output_tokens',
  'request_throughput',
  'output_throughput',
  'total_token_throughput',
  'max_output_tokens_per_s',
  'max_concurrent_requests',
  ...METRICS.flatMap((m) => ['mean', 'median', 'std', 'p99', 'p50'].map((s) => `${s}_${m}_ms`)),
  'mean_cached_tokens',
];

describe('loadgen summary', () => {
  test('summary - TPOT is (e2e − TTFT)/(output − 1), undefined for one token', () => {
    assert.equal(tpotMs(31, 10, 4), 7);
    assert.equal(tpotMs(30, 30, 1), null);
    assert.equal(tpotMs(30, 30, 0), null);
  });

  test('summary - mean, median, population std and linear-interpolated percentiles, as numpy', () => {
    const d = stats([4, 1, 3, 2]);
    assert.equal(d.mean, 2.5);
    assert.equal(d.median, 2.5);
    assert.equal(d.p50, 2.5);
    close(d.std, Math.sqrt(1.25), 'std');
    close(d.p99, 3.97, 'p99');
    close(d.p90, 3.7, 'p90');
    assert.deepEqual(stats([]), { mean: 0, median: 0, std: 0, p50: 0, p90: 0, p99: 0 });
    assert.deepEqual(stats([7]), { mean: 7, median: 7, std: 0, p50: 7, p90: 7, p99: 7 });
  });

  test('summary - totals, throughputs and latencies count successful requests; ITL is pooled', () => {
    const s = summarize([A, B, F], 2, 3);
    assert.equal(s.duration, 2);
    assert.equal(s.completed, 2);
    assert.equal(s.failed, 1);
    assert.equal(s.total_input_tokens, 150);
    assert.equal(s.total_output_tokens, 5);
    assert.equal(s.request_throughput, 1);
    assert.equal(s.output_throughput, 2.5);
    assert.equal(s.total_token_throughput, 77.5);
    assert.equal(s.max_concurrent_requests, 3);
    assert.equal(s.mean_ttft_ms, 20);
    assert.equal(s.median_ttft_ms, 20);
    assert.equal(s.std_ttft_ms, 10);
    assert.equal(s.mean_tpot_ms, 7, 'only A has a TPOT');
    assert.equal(s.mean_itl_ms, 7);
    assert.equal(s.median_itl_ms, 7);
    close(s.p99_itl_ms, 8.96, 'p99 itl');
    assert.equal(s.mean_e2el_ms, 30.5);
    assert.equal(s.total_cached_tokens, 64);
    assert.equal(s.mean_cached_tokens, 32);
    for (const k of VLLM_KEYS) assert.equal(typeof (s as Record<string, unknown>)[k], 'number', k);
  });

  test('summary - peak output tokens per second bins each token by its arrival', () => {
    // A's tokens land at 10, 15, 22, 31 ms (bin 0); B's one token at 1530 ms (bin 1).
    assert.equal(peakTokensPerSecond([A, B, F]), 4);
    const late = outcome({ ttftMs: 990, itlMs: [20, 20], outputTokens: 3, sentAtMs: 0 });
    assert.equal(peakTokensPerSecond([late]), 2);
  });

  test('summary - an empty run gives zeros, not NaN (vLLM writes 0)', () => {
    const s = summarize([], 0, 0);
    for (const [k, v] of Object.entries(s)) assert.equal(v, 0, k);
  });
});

describe('loadgen report', () => {
  const spec = resolveRunSpec({ baseUrl: 'http://127.0.0.1:8000', model: 'meta-llama/Llama-3.1-8B-Instruct', workload: { kind: 'random' }, requestRate: 4, maxConcurrency: 8 });
  const result: RunResult = {
    spec,
    startedAt: new Date(2026, 0, 2, 3, 4, 5).toISOString(),
    summary: summarize([A, B, F], 2, 3),
    records: [],
  };

  test('report - the table has vLLM rows and a section per latency', () => {
    const t = summaryTable(result.summary);
    assert.match(t, /^\| Serving Benchmark Result \| \|\n\|:---\|---:\|/);
    for (const row of [
      '| Successful requests | 2 |',
      '| Failed requests | 1 |',
      '| Benchmark duration (s) | 2.00 |',
      '| Request throughput (req/s) | 1.00 |',
      '| Mean TTFT (ms) | 20.00 |',
      '| P99 ITL (ms) | 8.96 |',
      '| Mean cached prompt tokens | 32.00 |',
    ])
      assert.ok(t.includes(row), row);
    for (const h of ['Time to First Token', 'Time per Output Token (excl. 1st token)', 'Inter-token Latency', 'End-to-end Latency']) assert.ok(t.includes(`| **${h}** |  |`), h);
  });

  test('report - the JSON carries the vLLM keys and run metadata, and vLLM-style file names', () => {
    const j = resultJson(result, { metadata: { system: 'direct' } });
    for (const k of VLLM_KEYS) assert.ok(k in j, k);
    assert.equal(j.request_rate, '4');
    assert.equal(j.max_concurrency, 8);
    assert.equal(j.model_id, 'meta-llama/Llama-3.1-8B-Instruct');
    assert.equal(j.backend, 'openai');
    assert.equal(j.system, 'direct');
    assert.equal('ttfts' in j, false);
    assert.equal(resultFileName(result), 'random-4qps-concurrency8-Llama-3.1-8B-Instruct-20260102-030405.json');
    assert.equal(rateLabel(Number.POSITIVE_INFINITY), 'inf');
    JSON.parse(JSON.stringify(j));
  });
});
