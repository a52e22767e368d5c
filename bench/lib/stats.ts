// Pure statistics for the overhead benchmark: percentiles and a latency summary. No I/O.

export interface Summary {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export const EMPTY_SUMMARY: Summary = Object.freeze({ count: 0, mean: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN });

/**
 * The q-quantile (0 ≤ q ≤ 1) of an ascending array, by linear interpolation between the two
 * nearest ranks (NumPy's default, "type 7"). NaN for an empty array.
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (q <= 0) return sorted[0]!;
  if (q >= 1) return sorted[n - 1]!;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const frac = pos - lo;
  const a = sorted[lo]!;
  return frac === 0 ? a : a + (sorted[lo + 1]! - a) * frac;
}

/** Sorts a copy (as a Float64Array, numeric order) and summarises it. */
export function summarize(values: ArrayLike<number>): Summary {
  const n = values.length;
  if (n === 0) return EMPTY_SUMMARY;
  const s = Float64Array.from(values as ArrayLike<number>).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i]!;
  return { count: n, mean: sum / n, p50: quantileSorted(s, 0.5), p90: quantileSorted(s, 0.9), p99: quantileSorted(s, 0.99), max: s[n - 1]! };
}

/** `a − b` for every statistic of two summaries (what one system adds over another). */
export function difference(a: Summary, b: Summary): { p50: number; p99: number; mean: number } {
  return { p50: a.p50 - b.p50, p99: a.p99 - b.p99, mean: a.mean - b.mean };
}
