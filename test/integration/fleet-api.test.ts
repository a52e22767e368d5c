// The fleet API on the ingress: behind an admin token, it lists workers and scheduler replicas
// as every replica sees them, and drains and undrains a worker (schedulers stop sending it work,
// its agent reports it draining).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SIM_MODEL, eventually, simState } from '../helpers/sim.ts';
import { postJson } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

const TOKEN = 'secret-admin-token';

interface Workers {
  schedulers: string[];
  data: { id: string; url: string; role: string; state: string; adminDrained: boolean; breaker: Record<string, string>; inflight: number; load: { running: number } }[];
}

describe('fleet api - workers, drain, schedulers', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 2, schedulers: 2, ingress: { adminToken: TOKEN } });
  });
  after(() => scope.run());

  const admin = (path: string, method = 'GET', token = TOKEN) => fetch(`${stack.url()}${path}`, { method, headers: { authorization: `Bearer ${token}` } });

  test('fleet api - refuses callers without the token', async () => {
    for (const [token, status] of [
      ['wrong', 401],
      ['', 401],
    ] as const) {
      const r = await admin('/admin/v1/workers', 'GET', token);
      assert.equal(r.status, status);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_UNAUTHORIZED');
    }
  });

  test('fleet api - lists the workers as every scheduler replica sees them', async () => {
    const r = await admin('/admin/v1/workers');
    assert.equal(r.status, 200);
    const body = (await r.json()) as Workers;
    assert.deepEqual(body.schedulers, ['sched-0', 'sched-1']);
    assert.equal(body.data.length, 2);
    for (const w of body.data) {
      assert.equal(w.state, 'ready');
      assert.equal(w.role, 'both');
      assert.deepEqual(Object.keys(w.breaker).sort(), ['sched-0', 'sched-1']);
      assert.ok(stack.workers.some((s) => s.url === w.url));
    }
  });

  test('fleet api - lists the scheduler replicas', async () => {
    const r = await admin('/admin/v1/schedulers');
    assert.equal(r.status, 200);
    const body = (await r.json()) as { data: { id: string; workers: number; peers: string[] }[] };
    assert.deepEqual(
      body.data.map((s) => s.id),
      ['sched-0', 'sched-1'],
    );
    assert.ok(body.data.every((s) => s.workers === 2));
  });

  test('fleet api - a drained worker gets no new requests; undrained, it does again', async () => {
    const list = (await (await admin('/admin/v1/workers')).json()) as Workers;
    const target = list.data[0]!;
    const sim = stack.workers.find((w) => w.url === target.url)!;
    const d = await admin(`/admin/v1/workers/${target.id}/drain`, 'POST');
    assert.equal(d.status, 202);
    assert.deepEqual(((await d.json()) as { acknowledgedBy: string[] }).acknowledgedBy, ['sched-0', 'sched-1']);
    await eventually(async () => ((await (await admin('/admin/v1/workers')).json()) as Workers).data.find((w) => w.id === target.id)?.state === 'draining', 'the worker shows as draining');
    // Its agent was told too: its own heartbeats now say draining.
    await eventually(() => stack.schedulers.every((s) => s.registry.get(target.id)?.state === 'draining'), 'the agent reports it draining');
    const admitted = (await simState(sim)).stats.promptTokens;
    for (let i = 0; i < 10; i++) {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: `drained ${i}`, max_tokens: 2 });
      assert.equal(r.status, 200);
      assert.notEqual(r.headers.get('x-router-worker'), target.id);
      await r.arrayBuffer();
    }
    assert.equal((await simState(sim)).stats.promptTokens, admitted);
    const u = await admin(`/admin/v1/workers/${target.id}/undrain`, 'POST');
    assert.equal(u.status, 202);
    await eventually(() => stack.schedulers.every((s) => s.registry.candidates(SIM_MODEL, 'whole').length === 2), 'both workers take traffic again');
  });

  test('fleet api - draining an unknown worker is 404', async () => {
    const r = await admin('/admin/v1/workers/no-such-worker/drain', 'POST');
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_WORKER_NOT_FOUND');
  });
});
