// Markdown rendering of an overhead run's results. Pure: results in, text out.
import type { HoldResult } from './hold.ts';
import type { PointResult } from './loadgen.ts';
import { unitCost, type NatsPerUnit, type UnitCost } from './cost.ts';
import { added, fmt, fmtSigned, ratio, sustained, type Arm, type Target } from './verdict.ts';

export interface ArmPoint {
  readonly arm: Arm;
  readonly point: PointResult;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const rate = (x: number): string => x.toLocaleString('en-US');

function cpuCell(p: PointResult, arm: Arm): string {
  const c = p.cpuPct;
  const pick = (k: string): string => (c[k] === null || c[k] === undefined ? '' : `${k} ${Math.round(c[k]!)}`);
  const own = arm === 'router' ? ['scheduler', 'ingress', 'nats'] : arm === 'nginx' ? ['nginx'] : [];
  return [...own, 'sim', 'loadgen', 'irq', 'other'].map(pick).filter(Boolean).join(', ');
}

/** Streaming: one row per (rate, system), with what nginx and the router add over direct at that rate. */
export function streamingTable(points: readonly ArmPoint[], rates: readonly number[], baselineP99: number): string {
  const rows: string[][] = [];
  for (const r of rates) {
    const at = points.filter((p) => p.point.offeredRate === r);
    const direct = at.find((p) => p.arm === 'direct')?.point;
    for (const { arm, point: p } of at) {
      const a = direct && arm !== 'direct' ? added(p, direct) : null;
      const s = sustained(p, baselineP99);
      const dagger = s.ok && (!direct || sustained(direct, baselineP99).ok) ? '' : ' †';
      rows.push([
        rate(r),
        arm,
        fmt(p.achievedRate, 0),
        `${(p.errorRate * 100).toFixed(2)} %`,
        `${fmt(p.ttftMs.p50, 2)} / ${fmt(p.ttftMs.p99, 2)}`,
        `${fmt(p.e2eMs.p50, 1)} / ${fmt(p.e2eMs.p99, 1)}`,
        a ? `**${fmtSigned(a.ttftP50)}** / **${fmtSigned(a.ttftP99)}**${dagger}` : '—',
        a ? `${fmtSigned(a.e2eP50, 1)} / ${fmtSigned(a.e2eP99, 1)}${dagger}` : '—',
        s.ok ? 'yes' : `no (${s.why})`,
        cpuCell(p, arm),
      ]);
    }
  }
  return table(
    [
      'Offered req/s',
      'System',
      'Achieved req/s',
      'Errors',
      'TTFT p50 / p99 (ms)',
      'E2E p50 / p99 (ms)',
      'Added TTFT p50 / p99 vs direct (ms)',
      'Added E2E p50 / p99 vs direct (ms)',
      'Sustained',
      'CPU % of one core (window)',
    ],
    rows,
  );
}

/** A sweep: one row per (system, rate). */
export function sweepTable(points: readonly ArmPoint[], baselineP99: number): string {
  const rows = points.map(({ arm, point: p }) => {
    const s = sustained(p, baselineP99);
    return [
      arm,
      rate(p.offeredRate),
      fmt(p.achievedRate, 0),
      `${(p.errorRate * 100).toFixed(2)} %`,
      `${fmt(p.e2eMs.p50, 1)} / ${fmt(p.e2eMs.p99, 1)}`,
      s.ok ? 'yes' : `no (${s.why})`,
      cpuCell(p, arm),
    ];
  });
  return table(['System', 'Offered req/s', 'Achieved req/s', 'Errors', 'E2E p50 / p99 (ms)', 'Sustained', 'CPU % of one core (window)'], rows);
}

const count = (x: number): string => (x > 0 ? x.toLocaleString('en-US') : '0');

function natsCells(n: NatsPerUnit | undefined): [string, string] {
  if (!n) return ['—', '—'];
  return [`${fmt(n.msgsIn, 2)} / ${fmt(n.msgsOut, 2)}`, `${fmt(n.bytesIn, 0)} / ${fmt(n.bytesOut, 0)}`];
}

/**
 * What a unit of work cost each system, one row per point: CPU µs per SSE event (`unit` 'event',
 * with the cost per request beside it) or per request, of the system's own processes (nginx's
 * workers; the router's ingress + scheduler + nats-server, each shown), with the router's
 * against nginx's at the same rate; the agent and the simulator apart (off the request path, and
 * the same work for every system); and the NATS traffic per unit (router only).
 */
export function costTable(points: readonly ArmPoint[], unit: 'event' | 'request'): string {
  const costs = points.map(({ arm, point }) => ({ arm, point, cost: unitCost(arm, point) }));
  const own = (c: UnitCost): number => (unit === 'event' ? c.systemPerEventUs : c.systemPerRequestUs);
  const m = (c: UnitCost): Readonly<Record<string, number>> => (unit === 'event' ? c.perEventUs : c.perRequestUs);
  const rows = costs.map(({ arm, point: p, cost: c }) => {
    const nginx = costs.find((x) => x.arm === 'nginx' && x.point.offeredRate === p.offeredRate)?.cost;
    const x = arm === 'router' && nginx ? ratio(own(c), own(nginx)) : NaN;
    const parts = arm === 'router' ? `${fmt(m(c).ingress ?? NaN)} / ${fmt(m(c).scheduler ?? NaN)} / ${fmt(m(c).nats ?? NaN)}` : '—';
    const [msgs, bytes] = natsCells(unit === 'event' ? c.nats?.perEvent : c.nats?.perRequest);
    return [
      rate(p.offeredRate),
      arm,
      unit === 'event' ? `${count(c.events)} / ${count(c.requests)}` : count(c.requests),
      arm === 'direct' ? '—' : `**${fmt(own(c))}**`,
      parts,
      Number.isFinite(x) ? `${x.toFixed(2)} ×` : '—',
      ...(unit === 'event' ? [arm === 'direct' ? '—' : fmt(c.systemPerRequestUs, 0)] : []),
      arm === 'router' ? fmt(m(c).agent ?? NaN, 2) : '—',
      fmt(m(c).sim ?? NaN),
      msgs,
      bytes,
    ];
  });
  return table(
    [
      'Offered req/s',
      'System',
      unit === 'event' ? 'SSE events / requests in window' : 'Requests in window',
      `CPU µs per ${unit}, system`,
      `of which ingress / scheduler / nats-server`,
      'Router ÷ nginx',
      ...(unit === 'event' ? ['CPU µs per request, system'] : []),
      `Agent µs per ${unit}`,
      `Simulator µs per ${unit}`,
      `NATS msgs in / out per ${unit}`,
      `NATS bytes in / out per ${unit}`,
    ],
    rows,
  );
}

export function highestTable(rows: readonly { arm: Arm; streaming: number | null; streamingTried: string; nonStreaming: number | null | undefined; nonStreamingTried: string }[]): string {
  const show = (x: number | null | undefined, tried: string): string => (x === undefined ? 'not swept' : x === null ? `none (tried ${tried})` : `${rate(x)} req/s`);
  return table(
    ['System', 'Highest sustained, 64-token streams', 'Highest sustained, non-streaming'],
    rows.map((r) => [r.arm, show(r.streaming, r.streamingTried), show(r.nonStreaming, r.nonStreamingTried)]),
  );
}

export function memoryTable(h: HoldResult): string {
  const rows = Object.entries(h.memory).map(([name, m]) => [
    name,
    fmt(m.beforeMB),
    fmt(m.maxMB),
    fmt(m.meanMB),
    fmt(m.hwmMB),
    h.cpuPct[name] === null || h.cpuPct[name] === undefined ? '—' : fmt(h.cpuPct[name]!, 0),
  ]);
  return table(['Process', 'VmRSS before (MB)', 'VmRSS max while open (MB)', 'VmRSS mean while open (MB)', 'VmHWM at end (MB)', 'CPU % while open'], rows);
}

export function targetsTable(targets: readonly Target[]): string {
  return table(
    ['Target', 'Goal', 'Measured', 'Result'],
    targets.map((t) => [t.name, t.goal, t.note ? `${t.measured} (${t.note})` : t.measured, `**${t.verdict}**`]),
  );
}
