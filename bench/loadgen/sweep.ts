// A sweep: the same workload against several systems (a router with one policy or another, a
// worker directly, …) at several offered request rates, one run after another, giving the
// points charts.ts draws. Runs are sequential so that systems never compete for the machine.
// Note that a system's prefix cache carries over from one rate to the next (vLLM's own sweeps
// reset it between runs; reset the fleet yourself if a point must start cold).
import type { SweepPoint } from './charts.ts';
import { runLoad, type RunResult, type RunSpec } from './run.ts';

export interface SweepSystem {
  /** Label in tables and chart legends. */
  readonly name: string;
  readonly baseUrl: string;
}

export interface SweepSpec {
  readonly systems: readonly SweepSystem[];
  /** Offered request rates, req/s (finite). */
  readonly rates: readonly number[];
  /** Everything else about each run (model, workload, count or duration, seed, …). */
  readonly run: Omit<RunSpec, 'baseUrl' | 'requestRate'>;
  /** Called after each run, e.g. to print its table or save its JSON. */
  readonly onRun?: (system: SweepSystem, rate: number, result: RunResult) => void | Promise<void>;
}

export async function runSweep(spec: SweepSpec): Promise<SweepPoint[]> {
  if (spec.systems.length === 0) throw new RangeError('a sweep needs at least one system');
  if (spec.rates.length === 0 || !spec.rates.every((r) => r > 0 && Number.isFinite(r))) throw new RangeError(`sweep rates must be finite numbers > 0, got ${spec.rates.join(', ')}`);
  const points: SweepPoint[] = [];
  for (const system of spec.systems) {
    for (const rate of spec.rates) {
      const result = await runLoad({ ...spec.run, baseUrl: system.baseUrl, requestRate: rate });
      await spec.onRun?.(system, rate, result);
      points.push({ system: system.name, offeredRate: rate, summary: result.summary });
    }
  }
  return points;
}
