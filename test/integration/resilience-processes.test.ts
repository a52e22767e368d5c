// Processes dying and the bus going away, with real processes and signals: nothing hangs and
// nothing is lost — every request either completes or ends with a clear error, and the system
// serves again by itself.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SIM_MODEL, eventually, simState, setFaults } from '../helpers/sim.ts';
import { postJson, readSse } from '../helpers/sim-http.ts';
import { spawnRouter, waitForOutput } from '../helpers/processes.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

function sseTokens(raw: string): number {
  return (raw.match(/"text":/g) ?? []).length;
}

/** The child processes run as nats.conf's users; secrets come through the environment, never flags. */
const AS_SCHEDULER = { NATS_USER: 'scheduler', NATS_PASSWORD: 'scheduler-dev' };
const AS_INGRESS_2 = { NATS_USER: 'ingress-2', NATS_PASSWORD: 'ingress-2-dev' };

function longStream(url: string, signal?: AbortSignal) {
  return postJson(`${url}/v1/completions`, { model: SIM_MODEL, prompt: 'a long one', max_tokens: 3000, ignore_eos: true, stream: true }, {}, signal ? { signal } : {});
}

describe('resilience - processes and the bus', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 2 });
  });
  after(() => scope.run());

  test('resilience - a scheduler killed mid-stream: the stream ends with an error at once, new requests go to another replica', async () => {
    // The in-process scheduler steps aside; a child scheduler takes the traffic.
    await stack.schedulers[0]!.stop(0);
    const child = spawnRouter(scope, ['scheduler', '--nats-url', stack.nats.url, '--id', 'doomed', '--policy', 'round_robin', '--metrics-port', '0'], AS_SCHEDULER);
    await waitForOutput(child, /scheduler started/);
    await eventually(async () => {
      const r = await fetch(`${stack.url()}/readiness`);
      await r.arrayBuffer();
      return r.status === 200;
    }, 'the child scheduler knows the workers');
    const res = await longStream(stack.url());
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read();
    const survivor = await stack.addScheduler({ id: 'survivor' });
    child.kill('SIGKILL');
    // Read until the stream ends: it must end (no hang) with an error event (then [DONE], as vLLM ends a failed stream).
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.match(text, /data: \{"error":\{[^\n]*LLMR_ERR_STREAM_BROKEN/);
    await stack.waitForWorkers(2);
    const r2 = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'after', max_tokens: 2 });
    assert.equal(r2.status, 200);
    await r2.arrayBuffer();
    assert.ok(survivor.counters.accepted >= 1);
  });

  test('resilience - a scheduler killed before answering: the request goes to another replica and succeeds', async () => {
    for (const s of stack.schedulers) await s.stop(0);
    const child = spawnRouter(scope, ['scheduler', '--nats-url', stack.nats.url, '--id', 'doomed-early', '--policy', 'round_robin', '--metrics-port', '0'], AS_SCHEDULER);
    await waitForOutput(child, /scheduler started/);
    await eventually(async () => {
      const r = await fetch(`${stack.url()}/readiness`);
      await r.arrayBuffer();
      return r.status === 200;
    }, 'the child scheduler knows the workers');
    const faults = (f: Record<string, unknown>) => Promise.all(stack.workers.map((w) => setFaults(w, f)));
    await faults({ latencyMs: 1500 });
    try {
      const pending = postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'survive', max_tokens: 3 });
      await eventually(async () => (await Promise.all(stack.workers.map(simState))).some((s) => s.openRequests > 0), 'the request reached a worker');
      const survivor = await stack.addScheduler({ id: 'survivor-early' });
      child.kill('SIGKILL');
      const r = await pending;
      assert.equal(r.status, 200, 'resubmitted and served');
      await r.arrayBuffer();
      assert.ok(survivor.counters.accepted >= 1);
    } finally {
      await faults({ reset: true });
    }
  });

  test('resilience - an ingress killed mid-stream: the scheduler aborts the upstream call', async () => {
    const w = stack.workers;
    const before = (await Promise.all(w.map(simState))).reduce((n, s) => n + s.stats.finished.abort, 0);
    const ingress = spawnRouter(scope, ['ingress', '--nats-url', stack.nats.url, '--port', '0', '--metrics-port', '0'], AS_INGRESS_2);
    await waitForOutput(ingress, /ingress listening/);
    const url = /"address":"(http:\/\/[^"]+)"/.exec(ingress.output())![1]!;
    const ac = new AbortController();
    const res = await longStream(url, ac.signal);
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read();
    ingress.kill('SIGKILL');
    await ingress.exited;
    await eventually(async () => (await Promise.all(w.map(simState))).reduce((n, s) => n + s.stats.finished.abort, 0) === before + 1, 'the worker aborts the sequence', 10_000);
    ac.abort();
  });

  test('resilience - SIGTERM on an ingress lets its open stream finish, refuses new requests, then exits', async () => {
    const ingress = spawnRouter(scope, ['ingress', '--nats-url', stack.nats.url, '--port', '0', '--metrics-port', '0', '--shutdown-grace-ms', '20000'], AS_INGRESS_2);
    await waitForOutput(ingress, /ingress listening/);
    const url = /"address":"(http:\/\/[^"]+)"/.exec(ingress.output())![1]!;
    const res = await postJson(`${url}/v1/completions`, { model: SIM_MODEL, prompt: 'finish me', max_tokens: 150, ignore_eos: true, stream: true });
    assert.equal(res.status, 200);
    const reading = readSse(res);
    await new Promise((r) => setTimeout(r, 50));
    ingress.kill('SIGTERM');
    await waitForOutput(ingress, /shutting down/);
    const refused = await postJson(`${url}/v1/completions`, { model: SIM_MODEL, prompt: 'too late', max_tokens: 2 }).catch((e: unknown) => e);
    if (refused instanceof Response) {
      assert.equal(refused.status, 503);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_SHUTTING_DOWN');
    }
    const body = await reading;
    assert.ok(body.done, 'the open stream completed');
    assert.equal(await ingress.exited, 0);
  });

  test('resilience - the bus restarts: in-flight requests fail clearly, new ones succeed once it is back', async () => {
    const res = await longStream(stack.url());
    assert.equal(res.status, 200);
    const reading = readSse(res);
    await new Promise((r) => setTimeout(r, 50));
    await stack.nats.stop(true);
    const body = await reading;
    assert.match(body.raw, /data: \{"error":\{[^\n]*LLMR_ERR_BUS_UNAVAILABLE/, 'the stream ends with an error event');
    assert.ok(sseTokens(body.raw) < 3000, 'it did not pretend to finish');
    // While the bus is down, new requests fail fast and clearly.
    const down = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'down', max_tokens: 2 });
    assert.equal(down.status, 503);
    assert.match(((await down.json()) as { error: { code: string } }).error.code, /LLMR_ERR_(BUS_UNAVAILABLE|NO_SCHEDULER)/);
    await stack.nats.start();
    await eventually(
      async () => {
        const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'back', max_tokens: 2 });
        await r.arrayBuffer();
        return r.status === 200;
      },
      'requests succeed again after the bus returns',
      15_000,
    );
  });
});
