// Retries and circuit breakers over real workers: a failing worker's requests are retried on
// another before any byte reaches the client; repeated failures open its breaker so it gets no
// traffic; it comes back through half-open trials once it recovers; client errors never trip it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SimWorker } from '../../sim/worker.ts';
import { SCHEDULER_DEFAULTS } from '../../scheduler/options.ts';
import type { Scheduler } from '../../scheduler/service.ts';
import { SIM_MODEL, eventually, simState, setFaults } from '../helpers/sim.ts';
import { postJson, readSse } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

describe('resilience - retries and circuit breakers', () => {
  let stack: Stack;
  let sched: Scheduler;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 2, schedulers: 0 });
    sched = await stack.addScheduler({
      id: 'breaker',
      policy: 'round_robin',
      breaker: { failureThreshold: 3, successThreshold: 2, cooldownMs: 400 },
      upstream: { ...SCHEDULER_DEFAULTS.upstream, connectTimeoutMs: 1000, headersTimeoutMs: 500, bodyTimeoutMs: 5000, workerApiKey: null },
    });
    await stack.waitForWorkers(2);
  });
  after(() => scope.run());

  const idOf = (w: SimWorker) => sched.registry.all().find((v) => v.url === w.url)!.id;

  test('resilience - errors, hangs cut by timeouts, and dropped connections are retried on the other worker', async () => {
    const [bad, good] = stack.workers as [SimWorker, SimWorker];
    for (const fault of [{ errorRate: 1, errorStatus: 503 }, { errorRate: 1, errorStatus: 500 }, { dieAfterTokens: 0 }, { hang: true }]) {
      await setFaults(bad, { reset: true, ...fault });
      for (let i = 0; i < 2; i++) {
        const res = await postJson(`${stack.url()}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: `retry ${i}` }], max_tokens: 4, stream: true });
        const body = await readSse(res);
        assert.equal(res.status, 200, `with ${JSON.stringify(fault)}`);
        assert.ok(body.done);
        assert.equal(res.headers.get('x-router-worker'), idOf(good));
      }
      await setFaults(bad, { reset: true });
      sched.breakers.forget(idOf(bad));
    }
  });

  test('resilience - consecutive failures open the breaker: the worker gets no traffic, then recovers', async () => {
    const [bad] = stack.workers as [SimWorker, SimWorker];
    const id = idOf(bad);
    await setFaults(bad, { errorRate: 1, errorStatus: 500 });
    for (let i = 0; i < 8; i++) {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: `open ${i}`, max_tokens: 2 });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    assert.equal(sched.breakers.state(id), 'open');
    const admitted = (await simState(bad)).stats.promptTokens;
    const errors = (await simState(bad)).openRequests;
    for (let i = 0; i < 6; i++) {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: `while open ${i}`, max_tokens: 2 });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    assert.equal(sched.breakers.state(id), 'open');
    assert.equal((await simState(bad)).stats.promptTokens, admitted);
    assert.equal(errors, 0);
    await setFaults(bad, { reset: true });
    // After the cooldown, trials reach it; two successes close the breaker.
    await eventually(async () => {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'probe', max_tokens: 2 });
      await r.arrayBuffer();
      return sched.breakers.state(id) === 'closed';
    }, 'the breaker closes once the worker recovers');
  });

  test('resilience - client errors (4xx) do not trip the breaker', async () => {
    const [w] = stack.workers as [SimWorker, SimWorker];
    for (let i = 0; i < 8; i++) {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'x', max_tokens: 0 });
      assert.equal(r.status, 400);
      await r.arrayBuffer();
    }
    assert.equal(sched.breakers.state(idOf(w)), 'closed');
  });

  test('resilience - when every worker fails, the last answer passes through after the retries', async () => {
    await Promise.all(stack.workers.map((w) => setFaults(w, { errorRate: 1, errorStatus: 503 })));
    try {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'all down', max_tokens: 2 });
      assert.ok(r.status === 503, `status ${r.status}`);
      const body = (await r.json()) as { error: { code: string | number } };
      assert.ok(body.error, 'an error body');
    } finally {
      await Promise.all(stack.workers.map((w) => setFaults(w, { reset: true })));
      for (const w of stack.workers) sched.breakers.forget(idOf(w));
    }
  });

  test('resilience - with every breaker open, the answer is 503 with Retry-After', async () => {
    for (const w of stack.workers) for (let i = 0; i < 3; i++) sched.breakers.failure(idOf(w));
    const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'x', max_tokens: 2 });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_NO_WORKER');
    for (const w of stack.workers) sched.breakers.forget(idOf(w));
  });
});
