import type { ScenarioPoint, ScenarioResult, SystemResult } from './run.ts';

type Point = ScenarioPoint;

/** Above this share of the machine's CPU a point measured the machine as much as the system. */
export const CONTENDED_CPU = 0.85;

/** A rate is sustained when every request succeeded and TTFT p99 stayed within the SLO. */
export function sustained(p: Point, sloTtftP99Ms: number): boolean {
  return p.summary.failed === 0 && p.summary.completed > 0 && p.summary.p99_ttft_ms <= sloTtftP99Ms;
}

/** The highest offered rate the system sustained (0 when none). */
export function maxSustained(r: SystemResult, slo: number): number {
  return Math.max(0, ...r.points.filter((p) => sustained(p, slo)).map((p) => p.offeredRate));
}

/** The highest offered rate that every system sustained, or null. */
export function commonRate(results: readonly SystemResult[], slo: number): number | null {
  const rates = results[0]?.points.map((p) => p.offeredRate) ?? [];
  const ok = rates.filter((rate) => results.every((r) => r.points.some((p) => p.offeredRate === rate && sustained(p, slo))));
  return ok.length ? Math.max(...ok) : null;
}

/** Measured requests per second of the window (fleet time; the summary's rate also counts the drain). */
export function completionRate(p: Point, windowS: number): number {
  return p.summary.completed / windowS;
}

const f0 = (x: number): string => x.toFixed(0);
const f1 = (x: number): string => x.toFixed(1);
const pct = (a: number, b: number): string => (b > 0 ? `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(0)} %` : 'n/a');

export function scenarioMarkdown(res: ScenarioResult): string {
  const slo = res.sloTtftP99Ms;
  const common = commonRate(res.systems, slo);
  const at = (r: SystemResult) => r.points.find((p) => p.offeredRate === common)?.summary;
  const rr = res.systems.find((r) => r.system === 'k8s-round-robin');
  const llmd = res.systems.find((r) => r.system === 'llm-d-like');
  const lines: string[] = [];
  lines.push(`### ${res.title}${res.quick ? ' (quick run)' : ''}`);
  lines.push('');
  lines.push(
    `Workload: ${JSON.stringify(res.workload)}; simulated time ×${res.timeScale} (numbers below are in the fleet's own time); each point ${res.warmupS} s of warm-up at its rate, then ${res.windowS} s measured.`,
  );
  lines.push('');
  lines.push(`A rate is sustained when no request failed and TTFT p99 stayed within ${slo} ms. A sweep ends after two rates in a row that were not sustained.`);
  lines.push('');
  lines.push(`| system | req/s sustained | vs K8s round robin | vs llm-d-like | TTFT p50 / p99 (ms)${common ? ` @ ${common} req/s` : ''} | ITL p50 / p99 (ms)${common ? ` @ ${common} req/s` : ''} |`);
  lines.push('|---|---|---|---|---|---|');
  for (const r of res.systems) {
    const s = at(r);
    const m = maxSustained(r, slo);
    lines.push(
      `| ${r.system} | ${f1(m)} | ${rr ? pct(m, maxSustained(rr, slo)) : 'n/a'} | ${llmd ? pct(m, maxSustained(llmd, slo)) : 'n/a'} | ${s ? `${f0(s.median_ttft_ms)} / ${f0(s.p99_ttft_ms)}` : 'n/a'} | ${s ? `${f1(s.median_itl_ms)} / ${f1(s.p99_itl_ms)}` : 'n/a'} |`,
    );
  }
  lines.push('');
  lines.push(`The announcement claims: ${res.claims.join('; ')}.`);
  lines.push('');
  lines.push('<details><summary>Every point of the sweep</summary>');
  lines.push('');
  lines.push('| system | offered req/s | measured req/s | output tok/s | TTFT p50 / p99 (ms) | ITL p50 / p99 (ms) | TPOT mean (ms) | failed | machine CPU |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  let contended = 0;
  for (const r of res.systems) {
    for (const p of r.points) {
      const s = p.summary;
      const hot = p.cpuBusy !== undefined && p.cpuBusy > CONTENDED_CPU;
      if (hot) contended++;
      const cpu = p.cpuBusy === undefined ? 'n/a' : `${f0(p.cpuBusy * 100)} %${hot ? ' †' : ''}`;
      lines.push(
        `| ${r.system} | ${p.offeredRate} | ${f1(completionRate(p, res.windowS))} | ${f0(s.output_throughput)} | ${f0(s.median_ttft_ms)} / ${f0(s.p99_ttft_ms)} | ${f1(s.median_itl_ms)} / ${f1(s.p99_itl_ms)} | ${f1(s.mean_tpot_ms)} | ${s.failed} | ${cpu} |`,
      );
    }
  }
  lines.push('');
  lines.push(
    contended > 0
      ? `† the machine's CPUs were more than ${f0(CONTENDED_CPU * 100)} % busy during this window: the co-located processes competed for them, so the point says as much about the machine as about the system.`
      : `No window had the machine's CPUs more than ${f0(CONTENDED_CPU * 100)} % busy (all processes share one machine).`,
  );
  lines.push('');
  lines.push('</details>');
  return lines.join('\n');
}
