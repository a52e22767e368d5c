// Workers joining, draining and leaving while traffic flows: no request may fail.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SIM_MODEL, eventually, simState } from '../helpers/sim.ts';
import { postJson, readSse } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

/** Keeps `concurrency` clients sending short streams until stopped; counts outcomes per worker. */
function steadyLoad(url: string, concurrency: number) {
  let running = true;
  const byWorker = new Map<string, number>();
  const failures: string[] = [];
  let ok = 0;
  const loops = Array.from({ length: concurrency }, async (_, c) => {
    let i = 0;
    while (running) {
      try {
        const res = await postJson(`${url}/v1/chat/completions`, {
          model: SIM_MODEL,
          messages: [{ role: 'user', content: `client ${c} request ${i++}` }],
          max_tokens: 12,
          ignore_eos: true,
          stream: true,
        });
        const body = await readSse(res);
        if (res.status !== 200 || !body.done || body.error) failures.push(`status ${res.status}, done ${body.done}, ${String(body.error ?? '')}`);
        else {
          ok++;
          const w = res.headers.get('x-router-worker') ?? '?';
          byWorker.set(w, (byWorker.get(w) ?? 0) + 1);
        }
      } catch (e) {
        failures.push(String(e));
      }
    }
  });
  return {
    byWorker,
    failures,
    get ok() {
      return ok;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('router membership - join, drain and leave under load', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 2, schedulers: 2, policy: 'power_of_two' });
  });
  after(() => scope.run());

  test('router membership - no request fails while workers come and go', async () => {
    const load = steadyLoad(stack.url(), 8);
    try {
      await eventually(() => load.ok >= 20, 'traffic flows');

      // Join: a third worker starts taking traffic.
      const { worker: joined } = await stack.addWorker();
      await stack.waitForWorkers(3);
      const joinedId = stack.schedulers[0]!.registry.all().find((w) => w.url === joined.url)!.id;
      await eventually(() => (load.byWorker.get(joinedId) ?? 0) >= 5, 'the new worker serves requests');

      // Drain: worker 0 stops getting new work but finishes what it has.
      const drainedAgent = stack.agents[0]!;
      const drainedId = drainedAgent.ids()[0]!;
      drainedAgent.drain();
      await stack.waitForWorkers(2);
      await eventually(async () => (await simState(stack.workers[0]!)).openRequests === 0, 'the drained worker finishes its requests');
      // Counted by the worker itself: requests it admitted (a client may still be reading an earlier answer).
      const admittedAtDrain = (await simState(stack.workers[0]!)).stats.promptTokens;
      const okAtDrain = load.ok;
      await eventually(() => load.ok >= okAtDrain + 30, 'traffic continues on the others');
      assert.equal((await simState(stack.workers[0]!)).stats.promptTokens, admittedAtDrain, 'a draining worker gets no new requests');
      assert.ok(drainedId);

      // Leave: worker 1's agent says draining and goes; the worker stops once idle.
      const leaving = stack.workers[1]!;
      await stack.agents[1]!.stop();
      await stack.waitForWorkers(1);
      await eventually(async () => (await simState(leaving)).openRequests === 0, 'the leaving worker finishes its requests');
      await leaving.stop();
      const okAtLeave = load.ok;
      await eventually(() => load.ok >= okAtLeave + 30, 'traffic continues on the remaining worker');
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures, [], `no request failed: ${load.failures.join('; ')}`);
    assert.ok(load.ok > 100, `served ${load.ok} requests`);
  });
});
