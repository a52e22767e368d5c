// When requests are due, as `vllm bench serve` schedules them (vLLM's docs/benchmarking/cli.md):
//
//   --request-rate R --burstiness B   open loop: gaps are Gamma(shape = B, scale = 1/(R·B)), so the
//                                     mean gap is 1/R and its coefficient of variation 1/√B —
//                                     B = 1 is a Poisson process, B < 1 burstier, B > 1 steadier.
//   --request-rate inf                every request is due at once (t = 0)…
//   --max-concurrency N               …and at most N are outstanding: with an infinite rate this
//                                     is a closed loop of N clients; with a finite rate it caps the
//                                     open loop (a request waits, in order, for a free slot).
//
// Pure and seeded. Times are milliseconds from the start of the run.
import { standardNormal, type Random } from '../lib/prng.ts';

export interface LoadShape {
  /** Requests per second; Infinity sends everything at t = 0. */
  readonly requestRate: number;
  /** Gamma shape of the gaps (1 = Poisson). */
  readonly burstiness: number;
  /** Cap on outstanding requests; null for none. */
  readonly maxConcurrency: number | null;
}

export const LOAD_DEFAULTS: LoadShape = Object.freeze({ requestRate: Number.POSITIVE_INFINITY, burstiness: 1, maxConcurrency: null });

export function validateLoad(shape: LoadShape): LoadShape {
  if (!(shape.requestRate > 0)) throw new RangeError(`requestRate must be > 0 (or Infinity), got ${shape.requestRate}`);
  if (!(shape.burstiness > 0 && Number.isFinite(shape.burstiness))) throw new RangeError(`burstiness must be a finite number > 0, got ${shape.burstiness}`);
  if (shape.maxConcurrency !== null && !(Number.isInteger(shape.maxConcurrency) && shape.maxConcurrency >= 1))
    throw new RangeError(`maxConcurrency must be an integer ≥ 1 or null, got ${shape.maxConcurrency}`);
  // With an infinite rate burstiness has no gaps to shape; vLLM accepts it anyway, and so do we.
  return Object.freeze({ ...shape });
}

/** A Gamma(shape, scale) deviate: Marsaglia–Tsang (2000), with the u^(1/k) boost for shape < 1. */
export function gammaSample(shape: number, scale: number, random: Random): number {
  if (shape === 1) return -Math.log(1 - random()) * scale;
  if (shape < 1) {
    let u = 0;
    while (u === 0) u = random();
    return gammaSample(shape + 1, scale, random) * u ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v * scale;
    if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v * scale;
  }
}

/** Gaps between consecutive arrivals, in ms; always 0 for an infinite rate. */
export function interArrivalMs(requestRate: number, burstiness: number, random: Random): () => number {
  if (requestRate === Number.POSITIVE_INFINITY) return () => 0;
  const scaleMs = 1000 / (requestRate * burstiness);
  return () => gammaSample(burstiness, scaleMs, random);
}

/**
 * Due times (ms from the start) of an endless arrival stream. The first request is due at 0, as in
 * vLLM; each later one a gap after the previous.
 */
export function* arrivalTimes(shape: Pick<LoadShape, 'requestRate' | 'burstiness'>, random: Random): Generator<number, never> {
  const gap = interArrivalMs(shape.requestRate, shape.burstiness, random);
  let t = 0;
  for (;;) {
    yield t;
    t += gap();
  }
}
