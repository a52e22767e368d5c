import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RetryBudget } from '../../scheduler/retry-budget.ts';

describe('retry budget', () => {
  test('retry budget - retries up to ratio × requests of the window, or minRetries, whichever is more', () => {
    let now = 0;
    const b = new RetryBudget({ ratio: 0.25, minRetries: 1, windowMs: 1000 }, () => now);
    assert.ok(b.take(), 'the minimum, with no request yet');
    assert.equal(b.take(), false);
    for (let i = 0; i < 8; i++) b.request();
    assert.ok(b.take());
    assert.equal(b.take(), false, '2 retries for 8 requests');
    assert.deepEqual(b.window, { requests: 8, retries: 2 });
    now = 500;
    for (let i = 0; i < 4; i++) b.request();
    assert.ok(b.take(), '3 for 12');
    assert.equal(b.take(), false);
  });

  test('retry budget - buckets leave the window one by one; a long silence empties it', () => {
    let now = 0;
    const b = new RetryBudget({ ratio: 1, minRetries: 0, windowMs: 1000 }, () => now);
    for (let i = 0; i < 10; i++) b.request();
    now = 550;
    for (let i = 0; i < 5; i++) b.request();
    assert.deepEqual(b.window, { requests: 15, retries: 0 });
    now = 1050;
    assert.deepEqual(b.window, { requests: 5, retries: 0 }, 'the first bucket has left');
    now = 1600;
    assert.deepEqual(b.window, { requests: 0, retries: 0 });
    now = 1_000_000;
    b.request();
    assert.deepEqual(b.window, { requests: 1, retries: 0 });
    assert.ok(b.take());
    assert.equal(b.take(), false);
  });
});
