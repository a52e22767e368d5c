// The retry budget over real workers: when the whole fleet fails, retries stay within the
// budget's share of the requests (instead of each request trying every attempt), and every
// request still gets an answer.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Scheduler } from '../../scheduler/service.ts';
import { SIM_MODEL, setFaults } from '../helpers/sim.ts';
import { postJson, total as sum } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

async function total(s: Scheduler, name: string): Promise<number> {
  return sum(await s.metrics.registry.metrics(), name);
}

describe('resilience - the retry budget', () => {
  let stack: Stack;
  let sched: Scheduler;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 2, schedulers: 0 });
    sched = await stack.addScheduler({ id: 'budget', breaker: null, retryBudget: { ratio: 0.2, minRetries: 2, windowMs: 600_000 } });
    await stack.waitForWorkers(2);
  });
  after(() => scope.run());

  test('retry budget - during an error burst of the whole fleet, retries are at most 20 % of the requests', async () => {
    for (const w of stack.workers) await setFaults(w, { errorRate: 1, errorStatus: 503 });
    const answers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: `burst ${i}`, max_tokens: 2 });
        return { status: r.status, body: (await r.json()) as { error?: { message?: string } } };
      }),
    );
    // Every request answered, with the fleet's failure.
    for (const a of answers) {
      assert.ok(a.status === 503 || a.status === 502, String(a.status));
      assert.equal(typeof a.body.error?.message, 'string');
    }
    const calls = await total(sched, 'llm_router_upstream_responses_total');
    const retries = await total(sched, 'llm_router_retries_total');
    // Without a budget: 20 × 5 = 100 calls. With it: the 20 first attempts and at most 4 retries.
    assert.ok(calls >= 20 && calls <= 24, `${calls} calls to the workers`);
    assert.ok(retries <= 4, `${retries} retries`);
    assert.ok((await total(sched, 'llm_router_retries_denied_total')) >= 16);
    for (const w of stack.workers) await setFaults(w, { reset: true });
  });
});
