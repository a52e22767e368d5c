import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { countedTokens, flowToken, rateHeaders } from '../../ingress/rate-limit-http.ts';
import { RateLimiter, resetText, type LeaseStore } from '../../ingress/rate-limiter.ts';

/** The shared counters every replica leases from, as the KV store keeps them. */
function sharedStore(): LeaseStore & { counters: Map<string, number>; leases: number; fail: boolean } {
  const counters = new Map<string, number>();
  const s = {
    counters,
    leases: 0,
    fail: false,
    async lease(key: string, want: number, limit: number) {
      s.leases++;
      if (s.fail) throw new Error('no JetStream');
      await new Promise((r) => setImmediate(r));
      const used = counters.get(key) ?? 0;
      const granted = Math.max(0, Math.min(want, limit - used));
      counters.set(key, used + granted);
      return { granted, used: used + granted };
    },
  };
  return s;
}

describe('rate limiter', () => {
  test('rate limiter - three replicas sharing the counters admit exactly the limit, however the requests spread', async () => {
    const store = sharedStore();
    const now = () => 60_000 * 1000 + 5_000;
    const replicas = [new RateLimiter(store, now), new RateLimiter(store, now), new RateLimiter(store, now)];
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => replicas[i % 3]!.charge('k', { rpm: 100, tpm: null }, 0)));
    assert.equal(results.filter((r) => r.ok).length <= 100, true);
    // What the replicas hold unspent is at most one lease (5 % of the limit) each.
    assert.ok(results.filter((r) => r.ok).length >= 100 - 2 * 5, String(results.filter((r) => r.ok).length));
    assert.ok(store.leases < 100, `${store.leases} leases for 300 requests: not one round trip each`);
    const refused = results.find((r) => !r.ok);
    assert.ok(refused && !refused.ok);
    assert.equal(refused.kind, 'requests');
    assert.equal(refused.retryAfterS, 55);
  });

  test('rate limiter - tokens are charged too; a request refused for tokens spends no request', async () => {
    const store = sharedStore();
    const rl = new RateLimiter(store, () => 0);
    const big = await rl.charge('k', { rpm: 10, tpm: 1000 }, 900);
    assert.ok(big.ok);
    assert.equal(big.state.tokens?.remaining, 100);
    const tooBig = await rl.charge('k', { rpm: 10, tpm: 1000 }, 200);
    assert.ok(!tooBig.ok && tooBig.kind === 'tokens');
    assert.equal(tooBig.state.requests?.remaining, 9, 'the request it would have cost is still there');
    const small = await rl.charge('k', { rpm: 10, tpm: 1000 }, 100);
    assert.ok(small.ok);
    assert.equal((await rl.charge('k', { rpm: null, tpm: 5 }, 6)).ok, false, 'more than the whole limit at once');
  });

  test('rate limiter - a new minute starts from nothing; keys and kinds count apart', async () => {
    const store = sharedStore();
    let t = 0;
    const rl = new RateLimiter(store, () => t);
    for (let i = 0; i < 2; i++) assert.ok((await rl.charge('a', { rpm: 2, tpm: null }, 0)).ok);
    assert.equal((await rl.charge('a', { rpm: 2, tpm: null }, 0)).ok, false);
    assert.ok((await rl.charge('b', { rpm: 2, tpm: null }, 0)).ok, 'another key');
    t = 60_000;
    assert.ok((await rl.charge('a', { rpm: 2, tpm: null }, 0)).ok, 'the next minute');
  });

  test('rate limiter - when the counters cannot be reached, requests pass and the failure is counted', async () => {
    const store = sharedStore();
    store.fail = true;
    const rl = new RateLimiter(store, () => 0);
    assert.ok((await rl.charge('k', { rpm: 1, tpm: null }, 0)).ok);
    assert.equal(rl.storeErrors, 1);
  });

  test("rate limiter - OpenAI's header format; what a request counts; flows hashed", () => {
    assert.equal(resetText(1), '1s');
    assert.equal(resetText(59.2), '60s'.replace('60s', '1m0s'));
    assert.equal(resetText(360), '6m0s');
    assert.deepEqual(rateHeaders({ requests: { limit: 60, remaining: 59, resetS: 12 } }), {
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '12s',
    });
    assert.equal(countedTokens({ prompt: 'x'.repeat(400), max_tokens: 50 }), 150);
    assert.equal(countedTokens({ prompt: 'x'.repeat(40) }), 10 + 256);
    assert.equal(countedTokens({ messages: [], max_completion_tokens: 7 }), 7);
    assert.match(flowToken('ip:10.0.0.1'), /^[0-9a-f]{32}$/);
    assert.notEqual(flowToken('ip:10.0.0.1'), flowToken('ip:10.0.0.2'));
  });
});
