// The cost per unit of work of a point: CPU time per streamed SSE event and per request of each
// process group, and nats-server's messages and bytes per request and per event, from what the
// load generator measured over one window. Pure: a point in, figures out.
import type { NatsCounters } from '../lib/nats-varz.ts';
import type { PointResult } from './loadgen.ts';
import type { Arm } from './verdict.ts';

/** Each system's own request-path processes (as named in the load generator's `cpuOf`); direct has none. */
export const SYSTEM_PROCS: Readonly<Record<Arm, readonly string[]>> = Object.freeze({ direct: [], nginx: ['nginx'], router: ['ingress', 'scheduler', 'nats'] });

/** Groups reported beside a system's own: the agent (off the request path) and the simulator. */
const SIDE_PROCS: Readonly<Record<Arm, readonly string[]>> = Object.freeze({ direct: ['sim'], nginx: ['sim'], router: ['agent', 'sim'] });

export interface NatsPerUnit {
  readonly msgsIn: number;
  readonly msgsOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface UnitCost {
  /** The work completed inside the CPU window. */
  readonly events: number;
  readonly requests: number;
  /** CPU µs per SSE event and per request of each group measured (NaN without events, requests or a reading). */
  readonly perEventUs: Readonly<Record<string, number>>;
  readonly perRequestUs: Readonly<Record<string, number>>;
  /** The system's own processes together: nginx, or ingress + scheduler + nats-server (NaN for direct). */
  readonly systemPerEventUs: number;
  readonly systemPerRequestUs: number;
  /** nats-server's traffic per request and per event (router points whose /varz was read). */
  readonly nats: { readonly perRequest: NatsPerUnit; readonly perEvent: NatsPerUnit } | null;
}

/** CPU µs that `pct` % of one core adds up to over `wallS` seconds (NaN when not measured). */
export function cpuMicros(pct: number | null | undefined, wallS: number): number {
  return pct === null || pct === undefined || !Number.isFinite(pct) ? NaN : (pct / 100) * wallS * 1e6;
}

/** `x` per unit, NaN when there are none. */
export function per(x: number, units: number): number {
  return units > 0 ? x / units : NaN;
}

export function natsPer(c: NatsCounters, units: number): NatsPerUnit {
  return { msgsIn: per(c.inMsgs, units), msgsOut: per(c.outMsgs, units), bytesIn: per(c.inBytes, units), bytesOut: per(c.outBytes, units) };
}

export function unitCost(arm: Arm, p: Pick<PointResult, 'cpuPct' | 'window' | 'nats'>): UnitCost {
  const { wallS, events, completions: requests } = p.window;
  const perEventUs: Record<string, number> = {};
  const perRequestUs: Record<string, number> = {};
  for (const g of [...SYSTEM_PROCS[arm], ...SIDE_PROCS[arm]]) {
    const us = cpuMicros(p.cpuPct[g], wallS);
    perEventUs[g] = per(us, events);
    perRequestUs[g] = per(us, requests);
  }
  const own = SYSTEM_PROCS[arm];
  const sum = (m: Record<string, number>): number => (own.length === 0 ? NaN : own.reduce((a, g) => a + m[g]!, 0));
  return {
    events,
    requests,
    perEventUs,
    perRequestUs,
    systemPerEventUs: sum(perEventUs),
    systemPerRequestUs: sum(perRequestUs),
    nats: arm === 'router' && p.nats ? { perRequest: natsPer(p.nats, requests), perEvent: natsPer(p.nats, events) } : null,
  };
}
