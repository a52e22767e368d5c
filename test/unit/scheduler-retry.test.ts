import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffMs } from '../../runtime/backoff.ts';
import { RETRY_DEFAULTS, sleep, type RetryOptions } from '../../scheduler/retry.ts';
import { mulberry32 } from '../helpers/random.ts';

const O: RetryOptions = { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 1000, multiplier: 2 };
const ALMOST_ONE = 1 - Number.EPSILON;

describe('retry', () => {
  test('retry - defaults are frozen and near the vLLM Router’s', () => {
    assert.ok(Object.isFrozen(RETRY_DEFAULTS));
    assert.deepEqual({ ...RETRY_DEFAULTS }, { maxAttempts: 5, initialBackoffMs: 50, maxBackoffMs: 30_000, multiplier: 1.5 });
  });

  const CAPS: [number, number][] = [
    [1, 100],
    [2, 200],
    [3, 400],
    [4, 800],
    [5, 1000],
    [50, 1000],
  ];
  for (const [n, cap] of CAPS) {
    test(`retry - retry ${n} waits in [0, ${cap}) ms (full jitter)`, () => {
      assert.equal(
        backoffMs(n, O, () => 0),
        0,
      );
      assert.equal(
        backoffMs(n, O, () => 0.5),
        cap / 2,
      );
      const top = backoffMs(n, O, () => ALMOST_ONE);
      assert.ok(top < cap && top > cap * 0.999, `top ${top}`);
      const rnd = mulberry32(n);
      for (let i = 0; i < 1000; i++) {
        const w = backoffMs(n, O, rnd);
        assert.ok(w >= 0 && w < cap, `wait ${w}`);
      }
    });
  }

  test('retry - n below 1 is treated as the first retry', () => {
    assert.equal(
      backoffMs(0, O, () => 0.5),
      50,
    );
    assert.equal(
      backoffMs(-3, O, () => 0.5),
      50,
    );
  });

  test('retry - the mean wait is half the cap', () => {
    const rnd = mulberry32(123);
    let sum = 0;
    const N = 20_000;
    for (let i = 0; i < N; i++) sum += backoffMs(3, O, rnd);
    assert.ok(Math.abs(sum / N - 200) < 5, `mean ${sum / N}`);
  });

  test('retry - a huge multiplier is still capped', () => {
    assert.equal(
      backoffMs(1000, { ...O, multiplier: 10 }, () => 0.5),
      500,
    );
  });

  test('retry - sleep resolves false at once when already aborted', async () => {
    const c = new AbortController();
    c.abort();
    assert.equal(await sleep(60_000, c.signal), false);
  });

  test('retry - sleep resolves false when aborted while waiting', async () => {
    const c = new AbortController();
    const p = sleep(60_000, c.signal);
    c.abort();
    assert.equal(await p, false);
  });

  test('retry - sleep resolves true when it runs out', async () => {
    assert.equal(await sleep(0, new AbortController().signal), true);
  });
});
