// Prefill/decode disaggregation over NIXL between simulated workers, end to end through the
// router: what each worker computed (the simulator's counters), the KV lease released, usage as
// one vLLM would report it, the decider, every failure rule, and decode stickiness.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { SimWorker } from '../../sim/worker.ts';
import { PD_DEFAULTS } from '../../scheduler/pd/config.ts';
import { SIM_MODEL, eventually, simState, setFaults } from '../helpers/sim.ts';
import { postJson, readSse, sseJson } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

/**
 * About 700 tokens, well over the decider's threshold, and different for every call: a prompt a
 * decode worker has already seen is cached there, and the decider rightly serves it whole.
 */
let prompts = 0;
function long(): string {
  const n = prompts++;
  return Array.from({ length: 120 }, (_, i) => `Prompt ${n}, paragraph ${i}, about routers and caches.`).join(' ');
}
const SHORT = 'Hi there';

async function pdStack(scope: ReturnType<typeof cleanupScope>, extra: Parameters<typeof startStack>[1] = {}): Promise<{ stack: Stack; prefill: SimWorker[]; decode: SimWorker[] }> {
  const stack = await startStack(scope, { workers: 0, ...extra });
  const prefill = [(await stack.addWorker({ role: 'prefill' })).worker, (await stack.addWorker({ role: 'prefill' })).worker];
  const decode = [(await stack.addWorker({ role: 'decode' })).worker, (await stack.addWorker({ role: 'decode' })).worker];
  await eventually(
    () => stack.schedulers.every((s) => s.registry.candidates(SIM_MODEL, 'prefill').length === 2 && s.registry.candidates(SIM_MODEL, 'decode').length === 2),
    'schedulers see 2 prefill and 2 decode workers',
  );
  return { stack, prefill, decode };
}

function idOf(stack: Stack, w: SimWorker): string {
  return stack.schedulers[0]!.registry.all().find((v) => v.url === w.url)!.id;
}

describe('pd nixl - disaggregated serving through the router', () => {
  let stack: Stack;
  let prefill: SimWorker[];
  let decode: SimWorker[];
  let client: OpenAI;
  const scope = cleanupScope();
  before(async () => {
    ({ stack, prefill, decode } = await pdStack(scope));
    client = stack.client();
  });
  after(() => scope.run());

  async function totals(ws: SimWorker[]) {
    const s = await Promise.all(ws.map(simState));
    return {
      promptComputed: s.reduce((n, x) => n + x.stats.promptTokensComputed, 0),
      remoteLoaded: s.reduce((n, x) => n + x.stats.remoteKvTokensLoaded, 0),
      leases: s.reduce((n, x) => n + x.kv.leases, 0),
      finished: s.reduce((n, x) => n + x.stats.finished.length + x.stats.finished.stop, 0),
      free: s.every((x) => x.kv.free === x.kv.numBlocks),
    };
  }

  test('pd nixl - a long prompt is prefilled on a prefill worker and decoded without prefill compute', async () => {
    const p0 = await totals(prefill);
    const d0 = await totals(decode);
    const r = await client.chat.completions.create({ model: SIM_MODEL, messages: [{ role: 'user', content: long() }], max_tokens: 6 }).withResponse();
    const worker = r.response.headers.get('x-router-worker') ?? '';
    assert.match(worker, /^[^,]+,[^,]+$/, `a prefill,decode pair answered: ${worker}`);
    assert.equal(r.data.usage!.completion_tokens, 6);
    assert.equal(r.data.choices[0]!.finish_reason, 'length');
    const d1 = await totals(decode);
    const p1 = await totals(prefill);
    assert.equal(d1.promptComputed, d0.promptComputed, 'the decode worker computed no prompt tokens');
    assert.equal(d1.remoteLoaded - d0.remoteLoaded, r.data.usage!.prompt_tokens, "it pulled the whole prompt's KV");
    assert.equal(p1.promptComputed - p0.promptComputed, r.data.usage!.prompt_tokens, 'the prefill worker computed the prompt');
    await eventually(async () => (await totals(prefill)).leases === 0 && (await totals(prefill)).free, 'the prefill worker released its blocks');
    assert.equal(stack.schedulers[0]!.counters.decisions.disaggregate >= 1, true);
  });

  test('pd nixl - usage is what one vLLM would report, streamed or not', async () => {
    const body = { model: SIM_MODEL, messages: [{ role: 'user' as const, content: `${long()} usage` }], max_tokens: 8 };
    const whole = await new OpenAI({ baseURL: `${decode[0]!.url}/v1`, apiKey: 'x', maxRetries: 0 }).chat.completions.create(body);
    const viaPd = await client.chat.completions.create(body);
    assert.equal(viaPd.usage!.prompt_tokens, whole.usage!.prompt_tokens);
    assert.equal(viaPd.usage!.prompt_tokens_details?.cached_tokens, 0, 'not the KV pulled from the prefill worker');
    const res = await postJson(`${stack.url()}/v1/chat/completions`, {
      ...body,
      messages: [{ role: 'user', content: `${long()} usage stream` }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = sseJson<{ choices: unknown[]; usage?: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details: { cached_tokens: number } } }>(await readSse(res));
    const usage = chunks.at(-1)!.usage!;
    assert.equal(usage.completion_tokens, 8);
    assert.equal(usage.prompt_tokens_details.cached_tokens, 0);
    assert.match(res.headers.get('x-router-worker') ?? '', /,/);
  });

  test('pd nixl - a short prompt is served whole by a decode worker', async () => {
    const before = stack.schedulers[0]!.counters.decisions.short_prompt;
    const r = await client.chat.completions.create({ model: SIM_MODEL, messages: [{ role: 'user', content: SHORT }], max_tokens: 4 }).withResponse();
    const worker = r.response.headers.get('x-router-worker') ?? '';
    assert.doesNotMatch(worker, /,/);
    assert.ok(decode.map((w) => idOf(stack, w)).includes(worker), 'a decode worker');
    assert.equal(stack.schedulers[0]!.counters.decisions.short_prompt, before + 1);
  });

  test('pd nixl - completions stream through P/D too', async () => {
    const stream = await client.completions.create({ model: SIM_MODEL, prompt: long(), max_tokens: 6, stream: true });
    let n = 0;
    for await (const c of stream) if (c.choices[0]?.text) n++;
    assert.equal(n, 6);
  });

  test('pd nixl - a failing prefill worker is replaced by another', async () => {
    await setFaults(prefill[0]!, { errorRate: 1, errorStatus: 500 });
    try {
      for (let i = 0; i < 4; i++) {
        const r = await client.chat.completions.create({ model: SIM_MODEL, messages: [{ role: 'user', content: `${long()} ${i} p-fail` }], max_tokens: 3 }).withResponse();
        assert.match(r.response.headers.get('x-router-worker') ?? '', new RegExp(`^${idOf(stack, prefill[1]!)},`));
      }
    } finally {
      await setFaults(prefill[0]!, { reset: true });
    }
  });

  test('pd nixl - with every prefill worker failing, the decode worker serves the request whole', async () => {
    await Promise.all(prefill.map((w) => setFaults(w, { errorRate: 1, errorStatus: 503 })));
    try {
      const d0 = await totals(decode);
      const r = await client.chat.completions.create({ model: SIM_MODEL, messages: [{ role: 'user', content: `${long()} all-p-fail` }], max_tokens: 3 }).withResponse();
      assert.doesNotMatch(r.response.headers.get('x-router-worker') ?? '', /,/);
      assert.ok((await totals(decode)).promptComputed > d0.promptComputed, 'the decode worker computed the prompt');
    } finally {
      await Promise.all(prefill.map((w) => setFaults(w, { reset: true })));
    }
  });

  test('pd nixl - a decode worker failing before its first byte is replaced, with the same KV', async () => {
    await setFaults(decode[0]!, { errorRate: 1, errorStatus: 503 });
    try {
      const p0 = await totals(prefill);
      for (let i = 0; i < 3; i++) {
        const d1 = await simState(decode[1]!);
        const r = await client.chat.completions.create({ model: SIM_MODEL, messages: [{ role: 'user', content: `${long()} ${i} d-fail` }], max_tokens: 3 }).withResponse();
        assert.match(r.response.headers.get('x-router-worker') ?? '', new RegExp(`,${idOf(stack, decode[1]!)}$`));
        const d2 = await simState(decode[1]!);
        assert.equal(d2.stats.promptTokensComputed, d1.stats.promptTokensComputed, 'the second decode worker pulled the KV, computed nothing');
      }
      const p1 = await totals(prefill);
      assert.equal(p1.finished - p0.finished, 3, 'one prefill per request: the KV was reused, not recomputed');
    } finally {
      await setFaults(decode[0]!, { reset: true });
    }
  });

  test('pd nixl - a client cancelling during prefill aborts it, and no decode starts', async () => {
    await Promise.all(prefill.map((w) => setFaults(w, { hang: true })));
    try {
      const d0 = await totals(decode);
      const ac = new AbortController();
      const pending = postJson(`${stack.url()}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: `${long()} cancel` }], max_tokens: 3 }, {}, { signal: ac.signal }).catch(
        (e: unknown) => e,
      );
      await eventually(async () => (await Promise.all(prefill.map(simState))).some((s) => s.openRequests === 1), 'the prefill leg is in flight');
      ac.abort();
      await pending;
      await eventually(async () => (await Promise.all(prefill.map(simState))).every((s) => s.openRequests === 0), 'the prefill call is aborted');
      const d1 = await totals(decode);
      assert.equal(d1.finished, d0.finished);
      assert.ok(
        (await Promise.all(decode.map(simState))).every((s) => s.openRequests === 0),
        'no decode leg started',
      );
    } finally {
      await Promise.all(prefill.map((w) => setFaults(w, { reset: true })));
    }
  });

  test('pd nixl - a client error from the prefill worker passes through', async () => {
    await assert.rejects(client.completions.create({ model: SIM_MODEL, prompt: long(), max_tokens: 3, n: 2 }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal((e.error as { param?: string }).param, 'n');
      return true;
    });
  });
});

describe('pd nixl - fleets missing a role', () => {
  const scope = cleanupScope();
  after(() => scope.run());

  test('pd nixl - no prefill worker: served whole on decode; with --pd-strict, 503', async () => {
    const stack = await startStack(scope, { workers: 0 });
    await stack.addWorker({ role: 'decode' });
    await eventually(() => stack.schedulers[0]!.registry.candidates(SIM_MODEL, 'decode').length === 1, 'decode worker known');
    const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: long(), max_tokens: 3 });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    assert.ok(stack.schedulers[0]!.counters.decisions.no_prefill_worker >= 1);
    const strict = await stack.addScheduler({ id: 'strict', pd: { ...PD_DEFAULTS, strict: true } });
    await stack.schedulers[0]!.stop(0);
    const r2 = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: long(), max_tokens: 3 });
    assert.equal(r2.status, 503);
    assert.equal(((await r2.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_NO_WORKER');
    assert.ok(strict.counters.decisions.no_prefill_worker >= 1);
  });

  test('pd nixl - no decode worker: 503', async () => {
    const stack = await startStack(scope, { workers: 0 });
    await stack.addWorker({ role: 'prefill' });
    await eventually(() => stack.schedulers[0]!.registry.candidates(SIM_MODEL, 'prefill').length === 1, 'prefill worker known');
    const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: long(), max_tokens: 3 });
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_NO_WORKER');
  });

  test('pd nixl - with onPrefillFailure "decode", a failed prefill goes whole at once', async () => {
    const { stack, prefill } = await pdStack(scope);
    const s = await stack.addScheduler({ id: 'decode-fallback', pd: { ...PD_DEFAULTS, onPrefillFailure: 'decode' } });
    await stack.schedulers[0]!.stop(0);
    await Promise.all(prefill.map((w) => setFaults(w, { errorRate: 1, errorStatus: 500 })));
    const before = (await Promise.all(prefill.map(simState))).reduce((n, x) => n + x.stats.finished.length, 0);
    const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: long(), max_tokens: 3 });
    assert.equal(r.status, 200);
    assert.doesNotMatch(r.headers.get('x-router-worker') ?? '', /,/);
    await r.arrayBuffer();
    assert.equal(
      (await Promise.all(prefill.map(simState))).reduce((n, x) => n + x.stats.finished.length, 0),
      before,
    );
    assert.equal(s.counters.accepted, 1);
  });
});

describe('pd nixl - decode stickiness', () => {
  const scope = cleanupScope();
  after(() => scope.run());

  test('pd nixl - a session keeps its decode worker (decode policy consistent_hash)', async () => {
    const { stack } = await pdStack(scope);
    const s = await stack.addScheduler({ id: 'sticky', policy: 'power_of_two', decodePolicy: 'consistent_hash' });
    await stack.schedulers[0]!.stop(0);
    await eventually(() => s.registry.candidates(SIM_MODEL, 'decode').length === 2, 'the new scheduler knows the fleet');
    for (let session = 0; session < 4; session++) {
      const decodes = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: `${long()} turn ${i}`, max_tokens: 2 }, { 'x-session-id': `session-${session}` });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
        const w = r.headers.get('x-router-worker') ?? '';
        decodes.add(w.slice(w.indexOf(',') + 1));
      }
      assert.equal(decodes.size, 1, `session-${session} used decode workers ${[...decodes].join(', ')}`);
    }
  });
});

describe('pd nixl - policies that read the prefix index', () => {
  const scope = cleanupScope();
  after(() => scope.run());

  // A policy that records its pick in the prefix index at once must not make the decider see the
  // prompt as cached on the decode worker it just picked (every request would go whole).
  for (const policy of ['llmd', 'least_load'] as const) {
    test(`pd nixl - with ${policy} in both pools a new long prompt is still disaggregated`, async () => {
      const { stack, prefill, decode } = await pdStack(scope);
      const s = await stack.addScheduler({ id: `pd-${policy}`, policy });
      await stack.schedulers[0]!.stop(0);
      await eventually(() => s.registry.candidates(SIM_MODEL, 'decode').length === 2, 'the new scheduler knows the fleet');
      const computed = async (ws: SimWorker[]): Promise<number> => (await Promise.all(ws.map(simState))).reduce((n, x) => n + x.stats.promptTokensComputed, 0);
      const d0 = await computed(decode);
      const p0 = await computed(prefill);
      for (let i = 0; i < 3; i++) {
        const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: long(), max_tokens: 2 });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
        assert.match(r.headers.get('x-router-worker') ?? '', /^[^,]+,[^,]+$/, 'a prefill,decode pair answered');
      }
      assert.equal(s.counters.decisions.disaggregate, 3);
      assert.equal(await computed(decode), d0, 'the decode workers computed no prompt');
      assert.ok((await computed(prefill)) > p0);
      // And the same prompt again is found cached on its decode worker: served whole there.
      const again = long();
      for (let i = 0; i < 2; i++) {
        const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: again, max_tokens: 2 }, { 'x-session-id': 'same' });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      }
      assert.ok(s.counters.decisions.disaggregate + s.counters.decisions.short_prompt === 5);
    });
  }
});

describe('pd nixl - a restarted decode worker', () => {
  const scope = cleanupScope();
  after(() => scope.run());

  // A crash empties the worker's cache; the router's index must not go on calling the prompt cached.
  test('pd nixl - the prefix index forgets a worker that went unhealthy, so its prompts are disaggregated again', async () => {
    const { stack, decode } = await pdStack(scope);
    const s = await stack.addScheduler({ id: 'pd-restart', policy: 'llmd' });
    await stack.schedulers[0]!.stop(0);
    await eventually(() => s.registry.candidates(SIM_MODEL, 'decode').length === 2, 'the new scheduler knows the fleet');
    const prompt = long();
    const send = async (): Promise<string> => {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt, max_tokens: 2 });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      return r.headers.get('x-router-worker') ?? '';
    };
    const first = await send();
    assert.match(first, /^[^,]+,[^,]+$/, 'a new prompt is disaggregated');
    const holder = decode.find((w) => idOf(stack, w) === first.split(',')[1])!;
    assert.doesNotMatch(await send(), /,/, 'the same prompt again is served whole where it is cached');
    assert.equal(s.counters.decisions.short_prompt, 1);

    await setFaults(holder, { crashForMs: 1_000 });
    const id = idOf(stack, holder);
    await eventually(() => s.registry.get(id)?.state === 'unhealthy', 'the scheduler hears that the worker is unhealthy');
    await eventually(() => s.registry.get(id)?.state === 'ready', 'the worker is back');
    assert.match(await send(), /^[^,]+,[^,]+$/, 'after the restart the prompt is not taken as cached');
    assert.equal(s.counters.decisions.disaggregate, 2);
    assert.equal(s.counters.decisions.short_prompt, 1);
  });
});

describe('pd nixl - a backed-up prefill pool', () => {
  const scope = cleanupScope();
  after(() => scope.run());

  test('pd nixl - when every prefill worker has a step more queued than the decode worker, the decode worker computes the prompt', async () => {
    const { stack, prefill, decode } = await pdStack(scope);
    const s = await stack.addScheduler({ id: 'local-margin', policy: 'least_load', pd: { ...PD_DEFAULTS, decider: { ...PD_DEFAULTS.decider, localMarginTokens: 200 } } });
    await stack.schedulers[0]!.stop(0);
    await eventually(() => s.registry.candidates(SIM_MODEL, 'decode').length === 2, 'the new scheduler knows the fleet');
    // Prefill workers that accept and never answer: every prefill leg sent to them stays queued.
    await Promise.all(prefill.map((w) => setFaults(w, { hang: true })));
    const stuck = new AbortController();
    try {
      const hung = [0, 1].map(() => postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: long(), max_tokens: 2 }, {}, { signal: stuck.signal }).catch(() => null));
      await eventually(async () => (await Promise.all(prefill.map(simState))).every((x) => x.openRequests === 1), 'one prefill leg queued on each prefill worker');
      const d0 = (await Promise.all(decode.map(simState))).reduce((n, x) => n + x.stats.promptTokensComputed, 0);
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: long(), max_tokens: 2 });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      assert.doesNotMatch(r.headers.get('x-router-worker') ?? '', /,/, 'served whole by one worker');
      assert.equal(s.counters.decisions.decode_sooner, 1);
      const d1 = (await Promise.all(decode.map(simState))).reduce((n, x) => n + x.stats.promptTokensComputed, 0);
      assert.ok(d1 > d0, 'a decode worker computed the prompt');
      stuck.abort();
      await Promise.all(hung);
    } finally {
      stuck.abort();
      await Promise.all(prefill.map((w) => setFaults(w, { reset: true })));
    }
  });
});
