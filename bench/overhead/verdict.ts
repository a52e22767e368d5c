// What the numbers mean: the "sustained" rule, the added latencies against direct, and the
// targets from the issue as PASS/FAIL. Pure functions over loadgen results; no I/O.
//
// The targets compare the router with nginx measured in the same run, as ratios: on a shared
// 2-core machine the absolute figures move with the machine's speed between runs, their ratio
// much less.
import type { UnitCost } from './cost.ts';
import type { PointResult } from './loadgen.ts';

export type Arm = 'direct' | 'nginx' | 'router';
export const ARMS: readonly Arm[] = ['direct', 'nginx', 'router'];

/** The sustained rule's parameters (printed with the results). */
export const SUSTAIN = Object.freeze({
  /** Achieved rate ≥ this fraction of the offered rate. */
  minAchievedFraction: 0.95,
  /** Error rate strictly below this. */
  maxErrorRate: 0.01,
  /** p99 end-to-end ≤ this multiple of the unloaded baseline's p99 end-to-end. */
  maxP99Factor: 2,
});

export function sustainRuleText(baselineDesc: string): string {
  return (
    `A point is **sustained** when (1) the achieved rate — successful completions that land inside the measurement window, ` +
    `divided by its length — is ≥ ${SUSTAIN.minAchievedFraction * 100} % of the offered rate, (2) fewer than ${SUSTAIN.maxErrorRate * 100} % of the requests sent ` +
    `inside the window failed (non-200, transport error, truncated stream, or unfinished when the drain time after the window ran out), and ` +
    `(3) p99 end-to-end latency ≤ ${SUSTAIN.maxP99Factor} × the p99 end-to-end latency of ${baselineDesc}. ` +
    `A system's highest sustained rate is the highest offered rate of the sweep at which its point is sustained.`
  );
}

export interface Sustained {
  readonly ok: boolean;
  readonly why: string;
}

export function sustained(p: PointResult, baselineP99Ms: number): Sustained {
  const why: string[] = [];
  if (p.achievedRate < SUSTAIN.minAchievedFraction * p.offeredRate) why.push(`achieved ${p.achievedRate.toFixed(0)}/s < ${SUSTAIN.minAchievedFraction * 100} %`);
  if (!(p.errorRate < SUSTAIN.maxErrorRate)) why.push(`errors ${(p.errorRate * 100).toFixed(1)} %`);
  const limit = SUSTAIN.maxP99Factor * baselineP99Ms;
  if (!(p.e2eMs.p99 <= limit)) why.push(`p99 e2e ${Number.isFinite(p.e2eMs.p99) ? p.e2eMs.p99.toFixed(0) : '—'} ms > ${limit.toFixed(0)} ms`);
  return { ok: why.length === 0, why: why.join('; ') };
}

/** Highest offered rate whose point is sustained, or null. */
export function highestSustained(points: readonly PointResult[], baselineP99Ms: number): number | null {
  let best: number | null = null;
  for (const p of points) if (sustained(p, baselineP99Ms).ok && (best === null || p.offeredRate > best)) best = p.offeredRate;
  return best;
}

export interface Added {
  readonly ttftP50: number;
  readonly ttftP99: number;
  readonly e2eP50: number;
  readonly e2eP99: number;
}

export function added(sys: PointResult, direct: PointResult): Added {
  return {
    ttftP50: sys.ttftMs.p50 - direct.ttftMs.p50,
    ttftP99: sys.ttftMs.p99 - direct.ttftMs.p99,
    e2eP50: sys.e2eMs.p50 - direct.e2eMs.p50,
    e2eP99: sys.e2eMs.p99 - direct.e2eMs.p99,
  };
}

export interface Target {
  readonly name: string;
  readonly goal: string;
  readonly measured: string;
  readonly verdict: 'PASS' | 'FAIL' | 'NOT MEASURED';
  readonly note?: string;
}

/** The issue's goals, as ratios against nginx in the same run (and the memory limit). */
export const GOALS = Object.freeze({
  /** The streaming rate (streams/s) of the CPU-per-event and added-TTFT targets. */
  streamRate: 100,
  /** The sweep rate (req/s) at which CPU per JSON request is compared, when both systems sustain it. */
  sweepCostRate: 1000,
  /** Router CPU per streamed event ≤ this × nginx's. */
  cpuPerEventFactor: 2,
  /** Router CPU per request ≤ this × nginx's (1-token streams, non-streaming JSON). */
  cpuPerRequestFactor: 4,
  /** Router TTFT − nginx TTFT, ms. */
  addedTtftP50Ms: 1,
  addedTtftP99Ms: 5,
  /** Router's highest sustained non-streaming rate ≥ this fraction of nginx's. */
  sweepFraction: 0.8,
  rssLimitMB: 150,
});

/** a / b, NaN unless both are finite and b is above 0. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN;
}

const NOT_SUSTAINED = 'nginx and/or the router did not sustain this rate on this machine: the figures include queueing';

/** µs of the router's request-path processes, with the share of each. */
function routerBreakdown(c: UnitCost, unit: 'event' | 'request'): string {
  const m = unit === 'event' ? c.perEventUs : c.perRequestUs;
  const total = unit === 'event' ? c.systemPerEventUs : c.systemPerRequestUs;
  return `${fmt(total)} µs (ingress ${fmt(m.ingress ?? NaN)} + scheduler ${fmt(m.scheduler ?? NaN)} + nats-server ${fmt(m.nats ?? NaN)})`;
}

/**
 * Router CPU per unit of work (ingress + scheduler + nats-server) ≤ `maxFactor` × nginx's (its
 * workers), both measured at the same point of the same run.
 */
export function cpuRatioTarget(name: string, unit: 'event' | 'request', maxFactor: number, router: UnitCost | undefined, nginx: UnitCost | undefined, bothSustained: boolean): Target {
  const goal = `≤ ${maxFactor} × nginx's CPU per ${unit} (ingress + scheduler + nats-server against nginx's workers)`;
  if (!router || !nginx) return { name, goal, measured: 'the router or nginx was not measured at this point', verdict: 'NOT MEASURED' };
  const r = unit === 'event' ? router.systemPerEventUs : router.systemPerRequestUs;
  const n = unit === 'event' ? nginx.systemPerEventUs : nginx.systemPerRequestUs;
  const x = ratio(r, n);
  if (!Number.isFinite(x)) return { name, goal, measured: `no CPU per ${unit} (router ${fmt(r)} µs, nginx ${fmt(n)} µs)`, verdict: 'NOT MEASURED' };
  return {
    name,
    goal,
    measured: `router ${routerBreakdown(router, unit)} vs nginx ${fmt(n)} µs per ${unit}: ${x.toFixed(2)} ×`,
    verdict: x <= maxFactor ? 'PASS' : 'FAIL',
    ...(bothSustained ? {} : { note: NOT_SUSTAINED }),
  };
}

/** What the router adds to TTFT over nginx at the same point: p50 − p50 and p99 − p99. */
export function ttftVsNginxTarget(rate: number, router: PointResult | undefined, nginx: PointResult | undefined, bothSustained: boolean): Target {
  const name = `Router-added TTFT against nginx at ${rate.toLocaleString('en-US')} streams/s`;
  const goal = `router − nginx: p50 ≤ ${GOALS.addedTtftP50Ms} ms and p99 ≤ ${GOALS.addedTtftP99Ms} ms`;
  if (!router || !nginx) return { name, goal, measured: 'the router or nginx was not measured at this rate', verdict: 'NOT MEASURED' };
  if (router.ok === 0 || nginx.ok === 0) return { name, goal, measured: 'no successful requests in one of the arms', verdict: 'NOT MEASURED' };
  const a = added(router, nginx);
  return {
    name,
    goal,
    measured: `p50 ${fmtSigned(a.ttftP50)} ms, p99 ${fmtSigned(a.ttftP99)} ms (router ${fmt(router.ttftMs.p50, 2)} / ${fmt(router.ttftMs.p99, 2)}, nginx ${fmt(nginx.ttftMs.p50, 2)} / ${fmt(nginx.ttftMs.p99, 2)})`,
    verdict: a.ttftP50 <= GOALS.addedTtftP50Ms && a.ttftP99 <= GOALS.addedTtftP99Ms ? 'PASS' : 'FAIL',
    ...(bothSustained ? {} : { note: NOT_SUSTAINED }),
  };
}

/**
 * The router's highest sustained non-streaming rate against nginx's, both from the same sweep
 * grid. When nginx sustained every rate it was offered its ceiling is unknown: a ratio that
 * passes then proves nothing (NOT MEASURED), one that fails still fails.
 */
export function sweepRatioTarget(router: number | null, nginx: number | null, nginxMaxTried: number, minFraction = GOALS.sweepFraction): Target {
  const name = 'Non-streaming: highest rate sustained through the router against nginx';
  const goal = `≥ ${Math.round(minFraction * 100)} % of nginx's`;
  if (nginx === null) return { name, goal, measured: `nginx sustained none of the rates tried (router: ${router === null ? 'none' : `${rate(router)} req/s`})`, verdict: 'NOT MEASURED' };
  const x = (router ?? 0) / nginx;
  const measured = `router ${router === null ? 'none' : `${rate(router)} req/s`} vs nginx ${rate(nginx)} req/s: ${Math.round(x * 100)} %`;
  const pass = x >= minFraction;
  if (pass && nginx >= nginxMaxTried) return { name, goal, measured, verdict: 'NOT MEASURED', note: `nginx sustained the highest rate tried (${rate(nginxMaxTried)} req/s): add higher --sweep-rates` };
  return { name, goal, measured, verdict: pass ? 'PASS' : 'FAIL' };
}

/**
 * The sweep rate at which to compare CPU per request: `preferred` when both systems sustained it,
 * else the highest rate both sustained; null when there is none.
 */
export function commonSustainedRate(a: readonly PointResult[], b: readonly PointResult[], baselineP99Ms: number, preferred: number): number | null {
  const ok = (ps: readonly PointResult[]): Set<number> => new Set(ps.filter((p) => sustained(p, baselineP99Ms).ok).map((p) => p.offeredRate));
  const sa = ok(a);
  const both = [...ok(b)].filter((r) => sa.has(r)).sort((x, y) => x - y);
  if (both.includes(preferred)) return preferred;
  return both.length > 0 ? both[both.length - 1]! : null;
}

const rate = (x: number): string => x.toLocaleString('en-US');

export function rssTarget(proc: string, streams: number, allOpen: boolean, maxMB: number, limitMB: number): Target {
  const name = `RSS of the ${proc} with ${streams.toLocaleString('en-US')} open streams`;
  const goal = `< ${limitMB} MB`;
  if (!Number.isFinite(maxMB)) return { name, goal, measured: 'not sampled', verdict: 'NOT MEASURED' };
  return {
    name,
    goal,
    measured: `${maxMB.toFixed(1)} MB (max VmRSS while open)`,
    verdict: allOpen && maxMB < limitMB ? 'PASS' : 'FAIL',
    ...(allOpen ? {} : { note: `not all ${streams} streams were open at once` }),
  };
}

export function fmtSigned(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return '—';
  return `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;
}

export function fmt(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '—';
}
