import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BenchSummary } from '../../bench/loadgen/summary.ts';
import type { ScenarioResult } from '../../bench/scenarios/run.ts';
import { comparable, mergeSystems, undilate } from '../../bench/scenarios/run.ts';
import { SCENARIOS } from '../../bench/scenarios/definitions.ts';
import { commonRate, maxSustained, scenarioMarkdown, sustained } from '../../bench/scenarios/table.ts';

function summary(ttftP99: number, failed = 0): BenchSummary {
  const base: Record<string, number> = { duration: 10, completed: 100, failed, request_throughput: 10, output_throughput: 1000, total_token_throughput: 2000, max_output_tokens_per_s: 1500 };
  for (const m of ['ttft', 'tpot', 'itl', 'e2el']) for (const s of ['mean', 'median', 'std', 'p50', 'p90', 'p99']) base[`${s}_${m}_ms`] = m === 'ttft' && s === 'p99' ? ttftP99 : 10;
  return base as unknown as BenchSummary;
}

const res: ScenarioResult = {
  scenario: 's',
  title: 'T',
  quick: true,
  timeScale: 2,
  workload: {},
  claims: ['c'],
  sloTtftP99Ms: 1000,
  warmupS: 5,
  windowS: 10,
  systems: [
    {
      system: 'k8s-round-robin',
      note: '',
      points: [
        { offeredRate: 10, summary: summary(100), cpuBusy: 0.5 },
        { offeredRate: 20, summary: summary(5000), cpuBusy: 0.9 },
      ],
    },
    {
      system: 'llm-d-like',
      note: '',
      points: [
        { offeredRate: 10, summary: summary(200) },
        { offeredRate: 20, summary: summary(900) },
      ],
    },
  ],
};

test('bench table - sustained means no failures and TTFT p99 within the SLO', () => {
  assert.equal(sustained({ offeredRate: 1, summary: summary(999) }, 1000), true);
  assert.equal(sustained({ offeredRate: 1, summary: summary(1001) }, 1000), false);
  assert.equal(sustained({ offeredRate: 1, summary: summary(10, 1) }, 1000), false);
  assert.equal(maxSustained(res.systems[0]!, 1000), 10);
  assert.equal(maxSustained(res.systems[1]!, 1000), 20);
  assert.equal(commonRate(res.systems, 1000), 10);
});

test('bench table - the report compares systems at the common rate', () => {
  const md = scenarioMarkdown(res);
  assert.match(md, /\| llm-d-like \| 20\.0 \| \+100 % \| \+0 % \| 10 \/ 200 \|/);
  assert.match(md, /TTFT p50 \/ p99 \(ms\) @ 10 req\/s/);
  // Every point: measured requests per second of the window, and the machine's CPU (flagged when contended).
  assert.match(md, /\| k8s-round-robin \| 10 \| 10\.0 \| 1000 \| 10 \/ 100 \| 10\.0 \/ 10\.0 \| 10\.0 \| 0 \| 50 % \|/);
  assert.match(md, /\| k8s-round-robin \| 20 \| .* \| 90 % † \|/);
  assert.match(md, /\| llm-d-like \| 10 \| .* \| n\/a \|/);
  assert.match(md, /† the machine's CPUs were more than 85 % busy/);
});

test('bench table - undilating divides latencies and multiplies rates by the time scale', () => {
  const u = undilate(summary(800), 4);
  assert.equal(u.p99_ttft_ms, 200);
  assert.equal(u.request_throughput, 40);
  assert.equal(u.duration, 2.5);
  assert.equal(u.completed, 100);
});

test('bench table - re-measuring some systems keeps the others, in their order', () => {
  const [rr, llmd] = res.systems;
  const fresh = { system: 'llm-d-like', note: 'new', points: [] };
  const extra = { system: 'router-best', note: '', points: [] };
  assert.deepEqual(mergeSystems(res.systems, [fresh, extra]), [rr, fresh, extra]);
  assert.deepEqual(mergeSystems(res.systems, []), [rr, llmd]);
});

test('bench table - only a result measured the same way is merged with', () => {
  const s = SCENARIOS[0]!;
  const same: ScenarioResult = { ...res, scenario: s.name, quick: false, timeScale: s.timeScale, sloTtftP99Ms: s.sloTtftP99Ms, warmupS: s.warmupS, windowS: s.windowS, workload: s.workload };
  assert.equal(comparable(same, s, false), true);
  assert.equal(comparable(same, s, true), false, 'a quick run is not a full one');
  assert.equal(comparable({ ...same, timeScale: s.timeScale * 2 }, s, false), false);
  assert.equal(comparable({ ...same, windowS: s.windowS + 1 }, s, false), false);
  assert.equal(comparable({ ...same, workload: { ...s.workload, outputLen: 1 } }, s, false), false);
  assert.equal(comparable({ ...same, scenario: 'other' }, s, false), false);
});
