// What the numbers mean: the "sustained" rule, the added latencies against direct, and the
// targets from the issue as PASS/FAIL. Pure functions over loadgen results; no I/O.
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

export function ttftTarget(rate: number, router: PointResult | undefined, direct: PointResult | undefined, bothSustained: boolean): Target {
  const name = `Router-added TTFT at ${rate.toLocaleString('en-US')} req/s (streaming)`;
  const goal = 'p50 ≤ 1 ms and p99 ≤ 5 ms';
  if (!router || !direct || router.ok === 0 || direct.ok === 0) return { name, goal, measured: 'no successful requests in one of the arms', verdict: 'NOT MEASURED' };
  const a = added(router, direct);
  const pass = a.ttftP50 <= 1 && a.ttftP99 <= 5;
  return {
    name,
    goal,
    measured: `p50 ${fmtSigned(a.ttftP50)} ms, p99 ${fmtSigned(a.ttftP99)} ms`,
    verdict: pass ? 'PASS' : 'FAIL',
    ...(bothSustained ? {} : { note: 'direct and/or router did not sustain this rate on this machine: the difference includes queueing' }),
  };
}

export function sweepTarget(goalRate: number, best: number | null, maxTried: number): Target {
  return {
    name: 'Non-streaming rate sustained through the router',
    goal: `≥ ${goalRate.toLocaleString('en-US')} req/s`,
    measured: best === null ? 'none of the swept rates' : `${best.toLocaleString('en-US')} req/s (highest tried ${maxTried.toLocaleString('en-US')})`,
    verdict: best !== null && best >= goalRate ? 'PASS' : 'FAIL',
  };
}

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
