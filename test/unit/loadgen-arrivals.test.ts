// bench/loadgen arrivals: Gamma gaps with the right mean and coefficient of variation for a
// seeded generator (so the tolerances hold on every run), and the load-shape checks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { arrivalTimes, gammaSample, interArrivalMs, validateLoad } from '../../bench/loadgen/arrivals.ts';
import { mulberry32 } from '../../bench/lib/prng.ts';

function moments(xs: readonly number[]): { mean: number; cv: number } {
  const mean = xs.reduce((a, x) => a + x, 0) / xs.length;
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length;
  return { mean, cv: Math.sqrt(variance) / mean };
}

const N = 40_000;

describe('loadgen arrivals', () => {
  for (const shape of [0.25, 0.5, 1, 2, 4, 10]) {
    test(`arrivals - Gamma(shape ${shape}) has mean shape·scale and CV 1/√shape`, () => {
      const r = mulberry32(11);
      const xs = Array.from({ length: N }, () => gammaSample(shape, 3, r));
      const m = moments(xs);
      assert.ok(xs.every((x) => x >= 0 && Number.isFinite(x)));
      assert.ok(Math.abs(m.mean / (shape * 3) - 1) < 0.03, `mean ${m.mean}`);
      assert.ok(Math.abs(m.cv * Math.sqrt(shape) - 1) < 0.05, `cv ${m.cv}`);
    });
  }

  for (const [rate, burstiness] of [
    [10, 1],
    [50, 0.5],
    [4, 3],
  ] as const) {
    test(`arrivals - rate ${rate} with burstiness ${burstiness}: mean gap 1/rate, CV 1/√burstiness`, () => {
      const gap = interArrivalMs(rate, burstiness, mulberry32(5));
      const m = moments(Array.from({ length: N }, gap));
      assert.ok(Math.abs(m.mean / (1000 / rate) - 1) < 0.03, `mean ${m.mean} ms`);
      assert.ok(Math.abs(m.cv - 1 / Math.sqrt(burstiness)) < 0.05 / Math.sqrt(burstiness), `cv ${m.cv}`);
    });
  }

  test('arrivals - the schedule starts at 0, never goes back, and is the same for the same seed', () => {
    const take = (seed: number): number[] => {
      const it = arrivalTimes({ requestRate: 20, burstiness: 1 }, mulberry32(seed));
      return Array.from({ length: 1000 }, () => it.next().value);
    };
    const a = take(1);
    assert.equal(a[0], 0);
    for (let i = 1; i < a.length; i++) assert.ok(a[i]! >= a[i - 1]!);
    assert.ok(Math.abs(a[999]! / 999 / 50 - 1) < 0.1, 'about 50 ms apart on average');
    assert.deepEqual(take(1), a);
    assert.notDeepEqual(take(2), a);
  });

  test('arrivals - an infinite rate makes everything due at once (the closed loop then comes from the cap)', () => {
    const it = arrivalTimes({ requestRate: Number.POSITIVE_INFINITY, burstiness: 1 }, mulberry32(1));
    assert.deepEqual(
      Array.from({ length: 5 }, () => it.next().value),
      [0, 0, 0, 0, 0],
    );
  });

  test('arrivals - bad load shapes are rejected, good ones frozen', () => {
    assert.throws(() => validateLoad({ requestRate: 0, burstiness: 1, maxConcurrency: null }), /requestRate/);
    assert.throws(() => validateLoad({ requestRate: Number.NaN, burstiness: 1, maxConcurrency: null }), /requestRate/);
    assert.throws(() => validateLoad({ requestRate: 1, burstiness: 0, maxConcurrency: null }), /burstiness/);
    assert.throws(() => validateLoad({ requestRate: 1, burstiness: 1, maxConcurrency: 0 }), /maxConcurrency/);
    assert.throws(() => validateLoad({ requestRate: 1, burstiness: 1, maxConcurrency: 2.5 }), /maxConcurrency/);
    assert.ok(Object.isFrozen(validateLoad({ requestRate: Number.POSITIVE_INFINITY, burstiness: 1, maxConcurrency: 8 })));
  });
});
