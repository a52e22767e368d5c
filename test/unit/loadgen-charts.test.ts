// bench/loadgen charts: Vega-Lite specs from sweep points, rendered headless to SVG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { latencySpec, renderSvg, throughputSpec, type SweepPoint } from '../../bench/loadgen/charts.ts';
import { summarize } from '../../bench/loadgen/summary.ts';

function point(system: string, offeredRate: number, throughput: number, ttft: number): SweepPoint {
  const s = summarize([], 1, 1);
  return { system, offeredRate, summary: { ...s, request_throughput: throughput, p50_ttft_ms: ttft, p99_ttft_ms: ttft * 3, p50_itl_ms: 8, p99_itl_ms: 20 } };
}

const POINTS = [point('round_robin', 2, 2, 40), point('round_robin', 8, 7.5, 400), point('prefix_aware', 2, 2, 25), point('prefix_aware', 8, 8, 90)];

test('charts - latency spec: one row per system, rate and percentile, lines ordered by offered rate', () => {
  const spec = latencySpec(POINTS, 'ttft') as unknown as { data: { values: Record<string, unknown>[] }; encoding: Record<string, { field?: string }> };
  assert.equal(spec.data.values.length, 8);
  assert.deepEqual(spec.data.values[1], { system: 'round_robin', offeredRate: 2, throughput: 2, percentile: 'p99', ms: 120 });
  assert.equal(spec.encoding.x!.field, 'throughput');
  assert.equal(spec.encoding.color!.field, 'system');
  assert.equal(spec.encoding.strokeDash!.field, 'percentile');
  assert.equal(spec.encoding.order!.field, 'offeredRate');
});

test('charts - rendered headless to SVG, with titles and every system in the legend', async () => {
  for (const [spec, title] of [
    [latencySpec(POINTS, 'ttft', { subtitle: 'unit test' }), 'TTFT vs achieved throughput'],
    [latencySpec(POINTS, 'itl', { logLatency: true }), 'ITL vs achieved throughput'],
    [throughputSpec([...POINTS, point('closed_loop', Number.POSITIVE_INFINITY, 9, 1)]), 'Throughput vs offered rate'],
  ] as const) {
    const svg = await renderSvg(spec);
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.ok(svg.includes(title), title);
    for (const system of ['round_robin', 'prefix_aware']) assert.ok(svg.includes(`>${system}</text>`), `${title}: legend has ${system}`);
    assert.equal(svg.includes('closed_loop'), false, 'points without a finite offered rate are left out');
  }
});
