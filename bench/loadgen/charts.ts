// Charts of a sweep (several systems, each at several offered rates), drawn like the figures of
// the vLLM Router announcement: latency against achieved throughput, one line per system. Specs
// are Vega-Lite (https://vega.github.io/vega-lite/), compiled to Vega and rendered headless with
// `view.toSVG()` — no canvas, no DOM, no browser.
//
//   (a) ttft        TTFT p50 (solid) and p99 (dashed) vs achieved request throughput
//   (b) throughput  achieved vs offered request rate, with the ideal y = x dotted
//   (c) itl         ITL p50/p99 vs achieved request throughput
//   (+) tpot, e2el  the same shape for the other latencies
//
// Lines join a system's points in order of offered rate (not of throughput), so a system whose
// throughput falls back past saturation shows a curve that turns back, rather than a zigzag.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchSummary, Metric } from './summary.ts';

/** One run of a sweep. */
export interface SweepPoint {
  /** The system under test, e.g. `round_robin`, `prefix-aware`, `direct`. */
  readonly system: string;
  /** Requests per second offered (finite; closed-loop points are left out of the throughput chart). */
  readonly offeredRate: number;
  readonly summary: BenchSummary;
}

export interface ChartOptions {
  /** Appears above each chart, e.g. the workload and fleet. */
  readonly subtitle?: string;
  /** Logarithmic latency axis (latency grows by orders of magnitude near saturation). */
  readonly logLatency?: boolean;
  readonly width?: number;
  readonly height?: number;
}

const LABELS: Record<Metric, string> = { ttft: 'TTFT', tpot: 'TPOT', itl: 'ITL', e2el: 'E2E latency' };

function frame(title: string, o: ChartOptions): Pick<TopLevelSpec, '$schema'> & Record<string, unknown> {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: o.subtitle ? { text: title, subtitle: o.subtitle } : title,
    width: o.width ?? 560,
    height: o.height ?? 340,
    background: 'white',
    config: { font: 'sans-serif', legend: { orient: 'right' }, axis: { grid: true } },
  };
}

/** Latency p50 and p99 of `metric` against achieved request throughput, one colour per system. */
export function latencySpec(points: readonly SweepPoint[], metric: Metric, o: ChartOptions = {}): TopLevelSpec {
  const values = points.flatMap((p) =>
    (['p50', 'p99'] as const).map((q) => ({
      system: p.system,
      offeredRate: p.offeredRate,
      throughput: p.summary.request_throughput,
      percentile: q,
      ms: p.summary[`${q}_${metric}_ms`],
    })),
  );
  return {
    ...frame(`${LABELS[metric]} vs achieved throughput`, o),
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'throughput', type: 'quantitative', title: 'Achieved request throughput (req/s)' },
      y: { field: 'ms', type: 'quantitative', title: `${LABELS[metric]} (ms)`, scale: o.logLatency ? { type: 'log' } : { zero: true } },
      color: { field: 'system', type: 'nominal', title: 'System' },
      strokeDash: { field: 'percentile', type: 'nominal', title: 'Percentile', sort: ['p50', 'p99'] },
      detail: [{ field: 'system' }, { field: 'percentile' }],
      order: { field: 'offeredRate', type: 'quantitative' },
      tooltip: [{ field: 'system' }, { field: 'offeredRate', title: 'offered req/s' }, { field: 'throughput', format: '.2f' }, { field: 'percentile' }, { field: 'ms', format: '.1f' }],
    },
  } as TopLevelSpec;
}

/** Achieved request throughput against the offered rate, with the ideal (everything served) dotted. */
export function throughputSpec(points: readonly SweepPoint[], o: ChartOptions = {}): TopLevelSpec {
  const finite = points.filter((p) => Number.isFinite(p.offeredRate));
  const values = finite.map((p) => ({ system: p.system, offeredRate: p.offeredRate, throughput: p.summary.request_throughput }));
  const max = Math.max(0, ...finite.map((p) => p.offeredRate));
  const x = { field: 'offeredRate', type: 'quantitative', title: 'Offered request rate (req/s)' } as const;
  const y = { field: 'throughput', type: 'quantitative', title: 'Achieved request throughput (req/s)' } as const;
  return {
    ...frame('Throughput vs offered rate', o),
    layer: [
      {
        data: {
          values: [
            { offeredRate: 0, throughput: 0 },
            { offeredRate: max, throughput: max },
          ],
        },
        mark: { type: 'line', color: '#999', strokeDash: [2, 3] },
        encoding: { x, y },
      },
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: { x, y, color: { field: 'system', type: 'nominal', title: 'System' }, order: { field: 'offeredRate', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

/** Renders a Vega-Lite spec to an SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface SweepChartFiles {
  readonly ttft: string;
  readonly throughput: string;
  readonly itl: string;
  readonly tpot: string;
  readonly e2el: string;
}

/** Writes `<prefix>-{ttft,throughput,itl,tpot,e2el}.svg` into `outDir` and returns their paths. */
export async function writeSweepCharts(points: readonly SweepPoint[], outDir: string, o: ChartOptions & { prefix?: string } = {}): Promise<SweepChartFiles> {
  if (points.length === 0) throw new RangeError('writeSweepCharts needs at least one sweep point');
  await mkdir(outDir, { recursive: true });
  const prefix = o.prefix ?? 'sweep';
  const specs = {
    ttft: latencySpec(points, 'ttft', o),
    throughput: throughputSpec(points, o),
    itl: latencySpec(points, 'itl', o),
    tpot: latencySpec(points, 'tpot', o),
    e2el: latencySpec(points, 'e2el', o),
  };
  const out: Record<string, string> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const path = join(outDir, `${prefix}-${name}.svg`);
    await writeFile(path, await renderSvg(spec));
    out[name] = path;
  }
  return out as unknown as SweepChartFiles;
}
