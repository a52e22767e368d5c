// Admission at the ingress (--max-concurrent-requests, --queue-size, --queue-timeout-ms) over
// the whole stack: each refusal is a 429 in OpenAI's shape with Retry-After and its own code, the
// queue serves flows in turn and priorities in order, a client that leaves is out of the queue
// (and one that leaves with a slot frees it), and nothing admitted is lost.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { SIM_MODEL, eventually, setFaults } from '../helpers/sim.ts';
import { value } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

const ask = { model: SIM_MODEL, messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 4 };

const scrape = async (metricsUrl: string): Promise<string> => (await fetch(metricsUrl)).text();

function client(stack: Stack, apiKey = 'test'): OpenAI {
  return new OpenAI({ baseURL: `${stack.url()}/v1`, apiKey, maxRetries: 0 });
}

/** Asserts a 429 with `code`, OpenAI's shape and a Retry-After of whole seconds; returns it. */
async function refused(p: Promise<unknown>, code: string): Promise<number> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, String(e));
    assert.equal(e.status, 429);
    assert.equal(e.code, code);
    assert.equal(e.type, 'rate_limit_error');
    const retryAfter = Number(e.headers?.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After ${e.headers?.get('retry-after')}`);
    return retryAfter;
  }
  assert.fail(`expected a 429 ${code}`);
}

/** A request the hung worker holds until `abort()`: it holds an admission slot meanwhile. */
function held(api: OpenAI): { done: Promise<unknown>; abort(): void } {
  const ac = new AbortController();
  const done = api.chat.completions.create(ask, { signal: ac.signal }).catch((e: unknown) => e);
  return { done, abort: () => ac.abort() };
}

describe('ingress admission - one slot, a queue of one', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 1, ingress: { maxConcurrentRequests: 1, queueSize: 1, queueTimeoutMs: 120_000 } });
  });
  after(() => scope.run());

  test('admission - slot taken and queue full: the next request is refused at once (429, Retry-After); a client leaving frees its slot', async () => {
    const ingress = stack.ingresses[0]!;
    const api = client(stack);
    await setFaults(stack.workers[0]!, { hang: true });
    const first = held(api);
    await eventually(() => ingress.admission.inFlight === 1, 'the first request holds the slot');
    const second = api.chat.completions.create(ask);
    await eventually(() => ingress.admission.waiting === 1, 'the second request waits');
    await refused(api.chat.completions.create(ask), 'LLMR_ERR_QUEUE_FULL');
    // Refused while the others stayed where they were: at once, not after a wait (the queue timeout is 2 minutes).
    assert.equal(ingress.admission.inFlight, 1);
    assert.equal(ingress.admission.waiting, 1);
    // The first client gives up: its slot goes to the request that waited, which is served.
    await setFaults(stack.workers[0]!, { reset: true });
    first.abort();
    const answer = await second;
    assert.equal(answer.choices.length, 1);
    await eventually(() => ingress.admission.inFlight === 0 && ingress.admission.waiting === 0, 'every slot released');
    const m = await scrape(ingress.metricsUrl);
    assert.equal(value(m, 'llm_router_admission_total', { result: 'full' }), 1);
    assert.equal(value(m, 'llm_router_admission_total', { result: 'queued' }), 1);
    assert.equal(value(m, 'llm_router_errors_total', { code: 'LLMR_ERR_QUEUE_FULL' }), 1);
    assert.equal(value(m, 'llm_router_admission_queue_depth'), 0);
  });

  test('admission - a client that leaves while queued is out of the queue; the next one takes its place', async () => {
    const ingress = stack.ingresses[0]!;
    const api = client(stack);
    await setFaults(stack.workers[0]!, { hang: true });
    const first = held(api);
    await eventually(() => ingress.admission.inFlight === 1, 'the first request holds the slot');
    const leaving = held(api);
    await eventually(() => ingress.admission.waiting === 1, 'the second request waits');
    leaving.abort();
    await eventually(() => ingress.admission.waiting === 0, 'the queue is empty again');
    // There is room in the queue again.
    const third = api.chat.completions.create(ask);
    await eventually(() => ingress.admission.waiting === 1, 'the third request waits');
    await setFaults(stack.workers[0]!, { reset: true });
    first.abort();
    assert.equal((await third).choices.length, 1);
    const m = await scrape(ingress.metricsUrl);
    assert.equal(value(m, 'llm_router_admission_total', { result: 'closed' }), 1);
  });
});

describe('ingress admission - the queue timeout', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 1, ingress: { maxConcurrentRequests: 1, queueSize: 10, queueTimeoutMs: 300 } });
  });
  after(() => scope.run());

  test('admission - a request that waits longer than --queue-timeout-ms gets 429 LLMR_ERR_QUEUE_TIMEOUT', async () => {
    const ingress = stack.ingresses[0]!;
    const api = client(stack);
    await setFaults(stack.workers[0]!, { hang: true });
    const first = held(api);
    await eventually(() => ingress.admission.inFlight === 1, 'the first request holds the slot');
    await refused(api.chat.completions.create(ask), 'LLMR_ERR_QUEUE_TIMEOUT');
    assert.equal(ingress.admission.waiting, 0);
    first.abort();
    await setFaults(stack.workers[0]!, { reset: true });
    await eventually(() => ingress.admission.inFlight === 0, 'the slot released');
    assert.equal((await api.chat.completions.create(ask)).choices.length, 1);
    const m = await scrape(ingress.metricsUrl);
    assert.equal(value(m, 'llm_router_admission_total', { result: 'timeout' }), 1);
    assert.equal(value(m, 'llm_router_errors_total', { code: 'LLMR_ERR_QUEUE_TIMEOUT' }), 1);
  });
});

describe('ingress admission - keys: fairness and priority grants', () => {
  let stack: Stack;
  let dir: string;
  const scope = cleanupScope();
  const KEYS = { flood: 'sk-flood-0123456789abcdef', polite: 'sk-polite-0123456789abcdef', ops: 'sk-ops-0123456789abcdef' };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llmr-admission-'));
    const keysFile = join(dir, 'keys');
    await writeFile(keysFile, [`flood:${KEYS.flood}`, `polite:${KEYS.polite}`, `ops:${KEYS.ops} priority=-5`].join('\n'));
    stack = await startStack(scope, { workers: 1, ingress: { maxConcurrentRequests: 1, queueSize: 100, queueTimeoutMs: 120_000, apiKeysFile: keysFile } });
  });
  after(async () => {
    await scope.run();
    await rm(dir, { recursive: true, force: true });
  });

  test('admission - a flooding key does not starve a polite one: the polite request is served next, not after the flood', async () => {
    const ingress = stack.ingresses[0]!;
    await setFaults(stack.workers[0]!, { hang: true });
    const first = held(client(stack, KEYS.flood));
    await eventually(() => ingress.admission.inFlight === 1, 'the flood holds the slot');
    const order: string[] = [];
    const flood = client(stack, KEYS.flood);
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 8; i++) all.push(flood.chat.completions.create(ask).then(() => order.push(`flood-${i}`)));
    await eventually(() => ingress.admission.waiting === 8, 'the flood waits');
    all.push(
      client(stack, KEYS.polite)
        .chat.completions.create(ask)
        .then(() => order.push('polite')),
    );
    await eventually(() => ingress.admission.waiting === 9, 'the polite request waits');
    await setFaults(stack.workers[0]!, { reset: true });
    first.abort();
    await Promise.all(all);
    assert.equal(order.length, 9);
    assert.ok(order.indexOf('polite') <= 1, `the polite request came in at ${order.indexOf('polite')}: ${order.join(' ')}`);
  });

  test("admission - a priority above the key's grant is lowered to it (and passed on so); a granted one goes first and on to vLLM", async () => {
    const ingress = stack.ingresses[0]!;
    await setFaults(stack.workers[0]!, { hang: true });
    const first = held(client(stack, KEYS.flood));
    await eventually(() => ingress.admission.inFlight === 1, 'a request holds the slot');
    const order: string[] = [];
    // polite asks for -5 without a grant: served at 0, and vLLM (which refuses priorities
    // without its priority scheduling) sees 0 and answers.
    const polite = client(stack, KEYS.polite)
      .chat.completions.create({ ...ask, priority: -5 } as typeof ask)
      .then((r) => {
        order.push('polite');
        return r;
      });
    await eventually(() => ingress.admission.waiting === 1, 'polite waits');
    // ops may ask for -5: it goes ahead of polite, and the worker gets -5 (this sim runs first
    // come first served, so its 400 comes back unchanged: the field was passed on).
    const ops = client(stack, KEYS.ops)
      .chat.completions.create({ ...ask, priority: -5 } as typeof ask)
      .catch((e: unknown) => {
        order.push('ops');
        return e;
      });
    await eventually(() => ingress.admission.waiting === 2, 'ops waits');
    await setFaults(stack.workers[0]!, { reset: true });
    first.abort();
    assert.equal((await polite).choices.length, 1);
    const e = await ops;
    assert.ok(e instanceof OpenAI.APIError && e.status === 400, String(e));
    assert.match(e.message, /Priority scheduling is not enabled/);
    assert.deepEqual(order, ['ops', 'polite']);
  });

  test('admission - a priority that is not an integer is a 400 naming the param', async () => {
    try {
      await client(stack, KEYS.polite).chat.completions.create({ ...ask, priority: 'high' } as unknown as typeof ask);
      assert.fail('expected a 400');
    } catch (e) {
      assert.ok(e instanceof OpenAI.APIError && e.status === 400, String(e));
      assert.equal(e.code, 'LLMR_ERR_INVALID_REQUEST');
      assert.equal(e.param, 'priority');
    }
  });
});
