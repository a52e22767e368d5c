// The agent and the scheduler's registry over a real bus: a new scheduler learns the fleet from
// llm.v1.hb.ping without waiting a period, health and load come from the worker, slow starters
// join only when healthy, and heartbeats that are malformed or lie about their subject are dropped.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { WorkerAgent } from '../../adapters/agent.ts';
import { encodeHeartbeat } from '../../proto/heartbeat.ts';
import { heartbeat } from '../helpers/fixtures.ts';
import { subjects } from '../../proto/subjects.ts';
import { SIM_MODEL, eventually, startSimWorker, setFaults } from '../helpers/sim.ts';
import { postJson } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

const silent = pino({ level: 'silent' });

describe('agent - heartbeats into the registry', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 1 });
  });
  after(() => scope.run());

  /** A worker whose /health answers after `healthDelayMs()` ms (a busy engine), watched by an agent of its own; resolves its id. */
  async function lateHealthWorker(name: string, timing: { intervalMs: number; probeTimeoutMs: number }, healthDelayMs: () => number): Promise<string> {
    const server = createServer((req, res) => {
      const answer = (status: number, body: string): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      if (req.url === '/health') setTimeout(() => answer(200, ''), healthDelayMs()).unref();
      else if (req.url === '/v1/models') answer(200, JSON.stringify({ object: 'list', data: [{ id: SIM_MODEL, object: 'model' }] }));
      else answer(404, '');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    scope.after(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const nc = await stack.connect('agent', name);
    const agent = new WorkerAgent(nc, { agentId: 'agent-1', region: 'test', ...timing, workers: [{ url, role: 'both', connector: 'nixl' }] }, silent);
    await agent.start();
    scope.after(() => agent.stop());
    return agent.ids()[0]!;
  }

  test('agent - a new scheduler learns the workers at once through hb.ping', async () => {
    // An agent that beats only once a minute: a scheduler that knows it within seconds learned it from the ping.
    const w = await startSimWorker(scope);
    const nc = await stack.connect('agent', 'slow-agent');
    const agent = new WorkerAgent(nc, { agentId: 'agent-1', region: 'test', intervalMs: 60_000, probeTimeoutMs: 500, workers: [{ url: w.url, role: 'both', connector: 'nixl' }] }, silent);
    await agent.start();
    scope.after(() => agent.stop());
    const late = await stack.addScheduler({ id: 'late-scheduler' });
    await eventually(() => late.registry.get(agent.ids()[0]!) !== undefined, "the new scheduler knows the slow agent's worker", 5000);
  });

  test('agent - a dead engine makes the worker unhealthy, and a recovered one ready again', async () => {
    const w = stack.workers[0]!;
    const id = stack.agents[0]!.ids()[0]!;
    const sched = stack.schedulers[0]!;
    await setFaults(w, { dead: true });
    await eventually(() => sched.registry.get(id)?.state === 'unhealthy', 'the worker is reported unhealthy');
    assert.ok(!sched.registry.candidates(SIM_MODEL, 'whole').some((c) => c.id === id));
    await setFaults(w, { reset: true });
    await eventually(() => sched.registry.get(id)?.state === 'ready', 'the worker is ready again');
  });

  test('agent - a slow-starting worker joins only once healthy', async () => {
    const w = await startSimWorker(scope);
    await setFaults(w, { slowStartMs: 600 });
    const nc = await stack.connect('agent', 'slow-start-agent');
    const agent = new WorkerAgent(nc, { agentId: 'agent-1', region: 'test', intervalMs: 100, probeTimeoutMs: 500, workers: [{ url: w.url, role: 'both', connector: 'nixl' }] }, silent);
    const sched = stack.schedulers[0]!;
    const seenWhileLoading: string[] = [];
    await agent.start();
    scope.after(() => agent.stop());
    const id = agent.ids()[0]!;
    // While /health says 503 the worker must never be a candidate.
    const watch = setInterval(() => {
      const v = sched.registry.get(id);
      if (v && w.faults.slowStartUntil > w.clock.now()) seenWhileLoading.push(v.state);
    }, 10);
    await eventually(() => sched.registry.get(id)?.state === 'ready', 'the worker joins once healthy');
    clearInterval(watch);
    assert.deepEqual(seenWhileLoading, []);
  });

  test("agent - heartbeats carry the worker's load", async () => {
    const w = stack.workers[0]!;
    const id = stack.agents[0]!.ids()[0]!;
    const sched = stack.schedulers[0]!;
    const ac = new AbortController();
    const pending = Array.from({ length: 3 }, () =>
      postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt: 'load', max_tokens: 2000, ignore_eos: true, stream: true }, {}, { signal: ac.signal }).catch(() => undefined),
    );
    try {
      await eventually(() => (sched.registry.get(id)?.load.running ?? 0) === 3, 'the registry sees 3 running requests');
      assert.ok((sched.registry.get(id)?.load.kvUsage ?? 0) > 0);
    } finally {
      ac.abort();
      await Promise.all(pending);
    }
  });

  test('agent - a late /health answer keeps a worker in service; a worker that stays silent is reported unhealthy', async () => {
    // /health answers late for the next `lateLeft` probes, or for every probe while `delayMs` > 0.
    let delayMs = 0;
    let lateLeft = 0;
    const id = await lateHealthWorker('late-health-agent', { intervalMs: 200, probeTimeoutMs: 150 }, () => {
      const late = delayMs > 0 || lateLeft-- > 0;
      return late ? Math.max(delayMs, 400) : 0;
    });
    const sched = stack.schedulers[0]!;
    await eventually(() => sched.registry.get(id)?.state === 'ready', 'the worker is ready');
    const seen = new Set<string>();
    const watch = setInterval(() => seen.add(sched.registry.get(id)?.state ?? 'gone'), 5);
    try {
      lateLeft = 1; // one probe times out, the next ones answer at once
      await new Promise((r) => setTimeout(r, 1_000));
      assert.deepEqual([...seen], ['ready'], 'one late answer did not take the worker out');
      delayMs = 400; // every probe times out from now on
      await eventually(() => sched.registry.get(id)?.state === 'unhealthy', 'a worker silent for longer than the stale period is unhealthy');
      delayMs = 0;
      await eventually(() => sched.registry.get(id)?.state === 'ready', 'ready again once it answers');
    } finally {
      clearInterval(watch);
    }
  });

  test('agent - a probe slower than three intervals does not stop the beats', async () => {
    // /health takes 250 ms, well within the probe timeout but five 50 ms intervals long.
    const id = await lateHealthWorker('slow-probe-agent', { intervalMs: 50, probeTimeoutMs: 1_000 }, () => 250);
    const sched = stack.schedulers[0]!;
    await eventually(() => sched.registry.get(id)?.state === 'ready', 'the worker is ready');
    const seen = new Set<string>();
    const watch = setInterval(() => seen.add(sched.registry.get(id)?.state ?? 'gone'), 5);
    await new Promise((r) => setTimeout(r, 1_500));
    clearInterval(watch);
    assert.deepEqual([...seen], ['ready'], 'never dropped for missed beats');
  });

  test('agent - malformed and mismatched heartbeats are dropped and counted', async () => {
    const sched = stack.schedulers[0]!;
    const nc = await stack.connect('agent', 'garbage');
    const before = sched.counters.heartbeatsInvalid;
    nc.publish(subjects.heartbeat('test', 'agent-1', 'junk'), 'not json');
    nc.publish(subjects.heartbeat('test', 'agent-1', 'junk'), JSON.stringify({ v: 1, id: 'junk' }));
    const hb = heartbeat('claims-another', { region: 'test', models: [SIM_MODEL], sentAt: Date.now() });
    nc.publish(subjects.heartbeat('test', 'agent-1', 'junk'), encodeHeartbeat(hb));
    await nc.flush();
    await eventually(() => sched.counters.heartbeatsInvalid === before + 3, 'three heartbeats dropped');
    assert.equal(sched.registry.get('junk'), undefined);
    assert.equal(sched.registry.get('claims-another'), undefined);
  });
});
