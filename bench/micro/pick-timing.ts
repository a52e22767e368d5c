// Timing for the pick micro-benchmark: each call's duration with hrtime, and whether the thread
// was preempted during it (RunQueueClock), so that a run on a shared machine can report the calls
// its neighbours did not stretch; and a wrapper that times the parts of a call.
import { summarize, type Summary } from '../lib/stats.ts';
import { RunQueueClock } from '../lib/run-queue.ts';

/** One kind of timed work: every duration, and which of them were preempted. */
export class Samples {
  readonly all: number[] = [];
  /** Durations during which the thread never waited for a CPU. */
  readonly clean: number[] = [];
  preempted = 0;

  add(us: number, preempted: boolean): void {
    this.all.push(us);
    if (preempted) this.preempted++;
    else this.clean.push(us);
  }

  /** Total µs, a preempted call counted at the median of the others (the neighbours' share left out). */
  busyUs(): number {
    let sum = 0;
    for (const x of this.clean) sum += x;
    return sum + this.preempted * (summarize(this.clean).p50 || 0);
  }
}

const runQueue = new RunQueueClock();

/** Runs `fn`, recording its duration into `s` when measuring; its µs, or null when it was preempted (or not measured). */
export function timed(s: Samples | null, fn: () => void): number | null {
  if (!s) {
    fn();
    return null;
  }
  const w0 = runQueue.waitedNs();
  const t0 = process.hrtime.bigint();
  fn();
  const us = Number(process.hrtime.bigint() - t0) / 1000;
  const preempted = runQueue.waitedNs() !== w0;
  s.add(us, preempted);
  return preempted ? null : us;
}

/**
 * Times `obj[name]` on every call into `into` (µs, summed per decision): where a decision's time
 * goes. Only hrtime around the call, no run-queue read (the decision's own timing must stay clean).
 */
export function instrument<T extends object, K extends keyof T>(obj: T, name: K, into: { us: number }): void {
  const f = obj[name] as unknown as (...args: unknown[]) => unknown;
  (obj as Record<K, unknown>)[name] = (...args: unknown[]): unknown => {
    const t0 = process.hrtime.bigint();
    try {
      return f.apply(obj, args);
    } finally {
      into.us += Number(process.hrtime.bigint() - t0) / 1000;
    }
  };
}

export interface Latency extends Summary {
  readonly p999: number;
}

/** One kind of work's latencies: every call, and the calls that were never preempted. */
export interface Timing {
  readonly all: Latency;
  readonly unpreempted: Latency;
  /** Share of the calls during which the thread waited for a CPU. */
  readonly preemptedShare: number;
}

export function timing(s: Samples): Timing {
  const lat = (xs: readonly number[]): Latency => {
    const sorted = Float64Array.from(xs).sort();
    return { ...summarize(sorted), p999: sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.999))]! : NaN };
  };
  return { all: lat(s.all), unpreempted: lat(s.clean), preemptedShare: s.all.length ? s.preempted / s.all.length : 0 };
}
