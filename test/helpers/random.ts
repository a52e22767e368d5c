// A tiny seeded PRNG for tests (mulberry32): policies and backoff take `random` as an argument, so
// tests pass one of these and get the same picks on every run.

export { mulberry32 } from '../../bench/lib/prng.ts';

/** A source that returns the given values in turn (cycling), for exact control over a pick. */
export function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}
