// The chaos plan: what goes wrong when, from a seed (the same seed replays the same plan).
// Worker faults every few seconds; a scheduler and the bus restarted at fixed points of every
// minute. Pure: the run executes the plan.
import { mulberry32 } from '../lib/prng.ts';

export type Fault =
  | { readonly kind: 'crash'; readonly worker: number; readonly ms: number }
  | { readonly kind: 'hang'; readonly worker: number; readonly ms: number }
  | { readonly kind: 'slow_start'; readonly worker: number; readonly ms: number }
  | { readonly kind: 'die_mid_stream'; readonly worker: number; readonly ms: number; readonly afterTokens: number }
  | { readonly kind: 'error_burst'; readonly worker: number; readonly ms: number; readonly rate: number; readonly status: number }
  | { readonly kind: 'restart_scheduler'; readonly scheduler: number }
  | { readonly kind: 'restart_bus' };

export interface PlannedFault {
  /** Milliseconds from the start of the run. */
  readonly at: number;
  readonly fault: Fault;
}

const WORKER_FAULTS = ['crash', 'hang', 'slow_start', 'die_mid_stream', 'error_burst'] as const;

export interface PlanOptions {
  readonly durationMs: number;
  readonly workers: number;
  readonly schedulers: number;
  readonly seed: number;
  /** A worker fault every this many ms (± half). */
  readonly everyMs: number;
  /** Quiet time at the start (warm-up) and the end (so the last requests can finish). */
  readonly quietMs: number;
}

export function plan(o: PlanOptions): PlannedFault[] {
  const rnd = mulberry32(o.seed);
  const out: PlannedFault[] = [];
  const end = o.durationMs - o.quietMs;
  let i = 0;
  for (let at = o.quietMs; at < end; at += o.everyMs * (0.5 + rnd())) {
    const kind = WORKER_FAULTS[i++ % WORKER_FAULTS.length]!;
    const worker = Math.floor(rnd() * o.workers);
    const ms = 1500 + Math.floor(rnd() * 2500);
    const fault: Fault =
      kind === 'die_mid_stream'
        ? { kind, worker, ms, afterTokens: 2 + Math.floor(rnd() * 8) }
        : kind === 'error_burst'
          ? { kind, worker, ms, rate: 0.5 + rnd() * 0.5, status: rnd() < 0.5 ? 500 : 503 }
          : { kind, worker, ms };
    out.push({ at: Math.round(at), fault });
  }
  // Every minute: a scheduler at 30 % of it, the bus at 65 %.
  for (let minute = 0; minute * 60_000 < end; minute++) {
    const s = minute * 60_000 + 18_000;
    const b = minute * 60_000 + 39_000;
    if (s < end) out.push({ at: s, fault: { kind: 'restart_scheduler', scheduler: minute % o.schedulers } });
    if (b < end) out.push({ at: b, fault: { kind: 'restart_bus' } });
  }
  return out.sort((a, b) => a.at - b.at);
}
