// "No responders" from NATS means no scheduler was subscribed at that instant, not that there is
// none: right after a bus reconnect the ingress is back a moment before the schedulers'
// subscriptions are, and a restarting scheduler is briefly absent. The ingress waits and
// resubmits within its accept timeout instead of answering 503 at once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, SIM_MODEL } from '../helpers/sim.ts';
import { postJson } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

describe('ingress - waiting for a scheduler to subscribe', () => {
  const scope = cleanupScope();
  let stack: Stack;
  before(async () => {
    stack = await startStack(scope, { workers: 1, schedulers: 0, ingresses: 0 });
    // A generous accept timeout: the test must not depend on how fast a loaded machine starts a scheduler.
    await stack.addIngress({ acceptTimeoutMs: 30_000 });
  });
  after(() => scope.run());

  test('ingress - a request sent while no scheduler is subscribed is served once one subscribes', async () => {
    const ingress = stack.ingresses[0]!;
    const pending = postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'patience', max_tokens: 2 });
    await eventually(() => ingress.streams.noResponders >= 2, 'NATS said "no responders" and the ingress tried again');
    await stack.addScheduler();
    const r = await pending;
    assert.equal(r.status, 200, await r.clone().text());
    await r.arrayBuffer();
  });

  test('ingress - with no scheduler for the whole accept timeout, the answer is 503 no scheduler', async () => {
    for (const s of stack.schedulers) await s.stop(0);
    const short = await stack.addIngress({ acceptTimeoutMs: 300 });
    const r = await postJson(`${short.url}/v1/completions`, { model: SIM_MODEL, prompt: 'alone', max_tokens: 2 });
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_NO_SCHEDULER');
    assert.ok(short.streams.noResponders >= 1);
  });
});
