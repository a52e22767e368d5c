// Seeded randomness (mulberry32: small, fast, not cryptographic): benchmarks and tests that must
// replay the same choices for the same seed take one of these as their `random`, as
// `vllm bench serve --seed` replays its prompts and arrivals.

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/** Uniform in [0, 1), deterministic for a given 32-bit seed. */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * An independent stream derived from a seed and a label, so that e.g. arrival gaps do not shift
 * when a workload draws one more number per prompt.
 */
export function substream(seed: number, label: string): Random {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return mulberry32(h);
}

/** An integer uniform in [lo, hi] (both included). */
export function uniformInt(random: Random, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}

/** A standard normal deviate (Box–Muller; one of the pair is dropped to stay stateless). */
export function standardNormal(random: Random): number {
  let u = 0;
  while (u === 0) u = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}
