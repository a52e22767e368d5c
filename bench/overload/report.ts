// The overload benchmark's report: a table per system, the verdict on the target and two
// charts (goodput, and admitted requests' p99 TTFT, against the offered load). Pure but for the
// chart rendering.
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../loadgen/charts.ts';
import type { PointSummary } from './point.ts';
import type { SystemName } from './systems.ts';

export interface OverloadPoint {
  readonly system: SystemName;
  readonly multiple: number;
  readonly offeredRate: number;
  readonly summary: PointSummary;
}

export interface Verdict {
  readonly goal: string;
  readonly measured: string;
  readonly pass: boolean | null;
}

const fmt = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '—');

/** The target: at the highest load the router with admission keeps ≥ 90 % of its peak goodput, and its admitted p99 TTFT within the SLO. */
export function verdicts(points: readonly OverloadPoint[], sloMs: number): Verdict[] {
  const mine = points.filter((p) => p.system === 'router-admission');
  if (mine.length === 0) return [{ goal: 'router-admission measured', measured: 'not run', pass: null }];
  const top = mine.reduce((a, b) => (b.multiple > a.multiple ? b : a));
  const peak = Math.max(...mine.map((p) => p.summary.goodput));
  return [
    {
      goal: `goodput at ${top.multiple}× capacity ≥ 90 % of the peak`,
      measured: `${fmt(top.summary.goodput)} of ${fmt(peak)} req/s (${fmt((100 * top.summary.goodput) / peak, 0)} %)`,
      pass: top.summary.goodput >= 0.9 * peak,
    },
    {
      goal: `admitted requests' p99 TTFT at ${top.multiple}× ≤ the SLO (${sloMs} ms)`,
      measured: `${fmt(top.summary.ttftP99Ms, 0)} ms`,
      pass: top.summary.ttftP99Ms <= sloMs,
    },
    {
      goal: 'router-admission: every request answered whole or refused, at every point (none timed out, cut or lost)',
      measured: `${mine.reduce((a, p) => a + p.summary.failed, 0)} failed of ${mine.reduce((a, p) => a + p.summary.sent, 0)} sent`,
      pass: mine.every((p) => p.summary.failed === 0 && p.summary.ok + p.summary.shed === p.summary.sent),
    },
  ];
}

export function table(points: readonly OverloadPoint[]): string[] {
  const rows = [...points].sort((a, b) => a.system.localeCompare(b.system) || a.multiple - b.multiple);
  return [
    '| System | Offered (× capacity) | Offered req/s | Sent | Goodput req/s (TTFT ≤ SLO) | Answered whole | Refused 429/503 | Failed (timeouts, cut streams) | TTFT p50 / p99 of answered (ms) | Refusal p99 (ms) |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((p) => {
      const s = p.summary;
      return `| ${p.system} | ${p.multiple} | ${fmt(p.offeredRate)} | ${s.sent} | **${fmt(s.goodput)}** | ${s.ok} | ${s.shed} | ${s.failed} | ${fmt(s.ttftP50Ms, 0)} / ${fmt(s.ttftP99Ms, 0)} | ${s.shed > 0 ? fmt(s.shedP99Ms, 0) : '—'} |`;
    }),
  ];
}

function lineSpec(points: readonly OverloadPoint[], field: 'goodput' | 'ttftP99Ms', title: string, yTitle: string, log: boolean): TopLevelSpec {
  const values = points.map((p) => ({ system: p.system, multiple: p.multiple, value: p.summary[field] })).filter((v) => Number.isFinite(v.value) && (!log || v.value > 0));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 560,
    height: 320,
    background: 'white',
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'multiple', type: 'quantitative', title: 'Offered load (× the fleet’s capacity)' },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: log ? { type: 'log' } : { zero: true } },
      color: { field: 'system', type: 'nominal', title: 'System' },
      order: { field: 'multiple', type: 'quantitative' },
    },
  } as TopLevelSpec;
}

export async function charts(points: readonly OverloadPoint[], sloMs: number): Promise<{ goodput: string; ttft: string }> {
  return {
    goodput: await renderSvg(lineSpec(points, 'goodput', `Goodput (answers with TTFT ≤ ${sloMs} ms per second)`, 'Goodput (req/s)', false)),
    ttft: await renderSvg(lineSpec(points, 'ttftP99Ms', 'p99 TTFT of the requests answered', 'TTFT p99 (ms, log)', true)),
  };
}
