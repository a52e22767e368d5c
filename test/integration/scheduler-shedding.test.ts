// Fleet-aware shedding over the whole stack: while every worker of a model is saturated the
// scheduler holds requests instead of piling them onto vLLM, dispatches them as room frees, and
// refuses what its bounded queue cannot hold with a 503 in OpenAI's shape and a Retry-After.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SCHEDULER_DEFAULTS } from '../../scheduler/options.ts';
import type { Scheduler } from '../../scheduler/service.ts';
import { SIM_MODEL, setFaults, simState } from '../helpers/sim.ts';
import { postJson, total } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

async function metric(s: Scheduler, name: string, labels: Record<string, string> = {}): Promise<number> {
  return total(await s.metrics.registry.metrics(), name, labels);
}

describe('scheduler shedding - requests held while the fleet is saturated', () => {
  let stack: Stack;
  let sched: Scheduler;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 1, schedulers: 0 });
    // Saturated at 2 requests in flight: deterministic, whatever the heartbeats say meanwhile.
    sched = await stack.addScheduler({ id: 'shed', shed: { ...SCHEDULER_DEFAULTS.shed, maxInFlight: 2, queueSize: 3, queueTimeoutMs: 60_000 } });
    await stack.waitForWorkers(1);
  });
  after(() => scope.run());

  test('shedding - 2 go to the worker, 3 are held and served as room frees, the rest get 503 LLMR_ERR_FLEET_SATURATED with Retry-After', async () => {
    const worker = stack.workers[0]!;
    // Each request holds its sequence a while, so that the eight overlap.
    await setFaults(worker, { latencyMs: 400 });
    let mostOnWorker = 0;
    const watch = setInterval(() => {
      void simState(worker).then((s) => {
        mostOnWorker = Math.max(mostOnWorker, s.running + s.waiting);
      });
    }, 20);
    const answers = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: `held ${i}`, max_tokens: 4 });
        return { status: r.status, retryAfter: r.headers.get('retry-after'), body: (await r.json()) as { error?: { code?: string; type?: string } } };
      }),
    );
    clearInterval(watch);
    await setFaults(worker, { reset: true });
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status !== 200);
    assert.equal(ok.length, 5, JSON.stringify(answers.map((a) => a.status)));
    assert.equal(refused.length, 3);
    for (const r of refused) {
      assert.equal(r.status, 503);
      assert.equal(r.body.error?.code, 'LLMR_ERR_FLEET_SATURATED');
      assert.equal(r.body.error?.type, 'server_error');
      assert.ok(Number(r.retryAfter) >= 1, `Retry-After ${r.retryAfter}`);
    }
    // The worker never had more than the two the limit allows.
    assert.ok(mostOnWorker <= 2, `${mostOnWorker} on the worker at once`);
    assert.equal(await metric(sched, 'llm_router_held_total', { result: 'released' }), 3);
    assert.equal(await metric(sched, 'llm_router_held_total', { result: 'full' }), 3);
    assert.equal(await metric(sched, 'llm_router_held_requests'), 0);
  });
});
