// Several ingresses and schedulers on one bus: traffic is shared between scheduler replicas,
// consistent hashing is sticky across requests and across replicas, and replicas share one
// view of in-flight load.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SIM_MODEL, eventually, setFaults } from '../helpers/sim.ts';
import { postJson } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

async function complete(url: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await postJson(`${url}/v1/completions`, { model: SIM_MODEL, prompt: 'Hello there', max_tokens: 3, ...extra }, headers);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const worker = res.headers.get('x-router-worker');
  assert.ok(worker, 'the answering worker is named');
  return worker;
}

describe('router replicas - two ingresses, two schedulers', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 4, schedulers: 2, ingresses: 2, policy: 'consistent_hash' });
  });
  after(() => scope.run());

  test('router replicas - both schedulers take a share of the traffic', async () => {
    const before = stack.schedulers.map((s) => s.counters.accepted);
    await Promise.all(Array.from({ length: 40 }, (_, i) => complete(stack.url(i % 2), { 'x-session-id': `s-${i}` })));
    const took = stack.schedulers.map((s, i) => s.counters.accepted - before[i]!);
    assert.equal(took[0]! + took[1]!, 40);
    assert.ok(took[0]! > 0 && took[1]! > 0, `both replicas served requests: ${took.join(', ')}`);
  });

  test('router replicas - a session sticks to one worker across requests, ingresses and schedulers', async () => {
    for (let s = 0; s < 8; s++) {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) seen.add(await complete(stack.url(i % 2), { 'x-session-id': `sticky-${s}` }));
      assert.equal(seen.size, 1, `session sticky-${s} went to ${[...seen].join(', ')}`);
    }
  });

  test('router replicas - sessions spread over the workers', async () => {
    const used = new Set<string>();
    for (let s = 0; s < 40; s++) used.add(await complete(stack.url(), { 'x-session-id': `spread-${s}` }));
    assert.ok(used.size >= 3, `40 sessions used ${used.size} of 4 workers`);
  });

  test('router replicas - the body user field is a routing key too', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) seen.add(await complete(stack.url(i % 2), {}, { user: 'alice' }));
    assert.equal(seen.size, 1);
  });

  test('router replicas - in-flight load is shared between replicas', async () => {
    // Hold requests open on both schedulers, then look at each one's view.
    const faults = (f: Record<string, unknown>) => Promise.all(stack.workers.map((w) => setFaults(w, f)));
    await faults({ latencyMs: 800 });
    try {
      const pending = Array.from({ length: 6 }, (_, i) => complete(stack.url(i % 2), { 'x-session-id': `load-${i}` }));
      await eventually(() => {
        const [a, b] = stack.schedulers;
        const ids = stack.workers.map((w) => stack.schedulers[0]!.registry.all().find((v) => v.url === w.url)?.id ?? '');
        const totalA = ids.reduce((n, id) => n + a!.inflight.total(id), 0);
        const totalB = ids.reduce((n, id) => n + b!.inflight.total(id), 0);
        return totalA === 6 && totalB === 6;
      }, 'both replicas count all 6 requests in flight');
      await Promise.all(pending);
    } finally {
      await faults({ reset: true });
    }
  });
});
