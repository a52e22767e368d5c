// Fault injection on a simulated worker, over real sockets: worker-wide faults set with
// POST /_sim/faults and per-request ones with the `x-sim-fault` header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SimWorker } from '../../sim/worker.ts';
import { SIM_MODEL, eventually, simState, startSimWorker } from '../helpers/sim.ts';
import { errorCode, postJson, readSse, scrape, sseJson, value, type VllmErrorBody } from '../helpers/sim-http.ts';

const LABELS = { model_name: SIM_MODEL, engine: '0' };

interface CompletionChunk {
  choices: { text: string; finish_reason: string | null }[];
}
interface ChatChunk {
  choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[];
}

async function setFaults(w: SimWorker, patch: Record<string, unknown> | string): Promise<Response> {
  return postJson(`${w.url}/_sim/faults`, patch);
}

function completion(w: SimWorker, body: Record<string, unknown> = {}, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<Response> {
  return postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt: 'fault injection', max_tokens: 4, ...body }, headers, init);
}

async function expectVllmError(res: Response, status: number): Promise<VllmErrorBody['error']> {
  assert.equal(res.status, status);
  const body = (await res.json()) as VllmErrorBody;
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(body.error.code, status);
  return body.error;
}

async function refused(url: string): Promise<boolean> {
  try {
    await fetch(url);
    return false;
  } catch (e) {
    return errorCode(e) === 'ECONNREFUSED';
  }
}

test('faults errors - errorRate 1 with errorStatus 503 answers every generation with a vLLM-shaped 503', async (t) => {
  const w = await startSimWorker(t);
  const set = await setFaults(w, { errorRate: 1, errorStatus: 503 });
  assert.equal(set.status, 200);
  const state = (await set.json()) as Record<string, unknown>;
  assert.equal(state.errorRate, 1);
  assert.equal(state.errorStatus, 503);
  for (const stream of [false, true]) {
    const e = await expectVllmError(await completion(w, { stream }), 503);
    assert.equal(e.type, 'ServiceUnavailableError');
  }
  const chat = await postJson(`${w.url}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: 'hi' }] });
  await expectVllmError(chat, 503);
  // Health and the engine are untouched: the fault is in front of the engine.
  assert.equal((await fetch(`${w.url}/health`)).status, 200);
  assert.equal((await simState(w)).stats.promptTokens, 0);
  // GET /_sim/faults reports the current faults; reset clears them.
  assert.equal(((await (await fetch(`${w.url}/_sim/faults`)).json()) as { errorRate: number }).errorRate, 1);
  assert.equal((await setFaults(w, { reset: true })).status, 200);
  assert.equal((await completion(w)).status, 200);
});

test('faults errors - the x-sim-fault header error=500 fails only that request', async (t) => {
  const w = await startSimWorker(t);
  const e = await expectVllmError(await completion(w, {}, { 'x-sim-fault': 'error=500' }), 500);
  assert.equal(e.type, 'InternalServerError');
  await expectVllmError(await completion(w, { stream: true }, { 'x-sim-fault': 'error=429' }), 429);
  const ok = await completion(w);
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { choices: { finish_reason: string }[] }).choices[0]!.finish_reason, 'length');
});

test('faults latency - added latency still answers correctly', async (t) => {
  const w = await startSimWorker(t);
  const plain = (await (await completion(w, { prompt: 'slow or not' })).json()) as { choices: { text: string }[]; usage: unknown };
  const viaHeader = await completion(w, { prompt: 'slow or not' }, { 'x-sim-fault': 'latency=50' });
  assert.equal(viaHeader.status, 200);
  const a = (await viaHeader.json()) as typeof plain;
  assert.equal(a.choices[0]!.text, plain.choices[0]!.text);
  assert.deepEqual(a.usage, plain.usage);
  assert.equal((await setFaults(w, { latencyMs: 30 })).status, 200);
  const res = await completion(w, { prompt: 'slow or not', stream: true });
  assert.equal(res.status, 200);
  const body = await readSse(res);
  assert.ok(body.done);
  assert.equal(
    sseJson<CompletionChunk>(body)
      .map((c) => c.choices[0]!.text)
      .join(''),
    plain.choices[0]!.text,
  );
});

test('faults hang - a hung request gets no response', async (t) => {
  const w = await startSimWorker(t);
  await assert.rejects(completion(w, {}, { 'x-sim-fault': 'hang' }, { signal: AbortSignal.timeout(300) }), (e: unknown) => {
    assert.equal((e as Error).name, 'TimeoutError');
    return true;
  });
  // Worker-wide: every generation request hangs, other routes still answer.
  assert.equal((await setFaults(w, { hang: true })).status, 200);
  await assert.rejects(completion(w, { stream: true }, {}, { signal: AbortSignal.timeout(300) }), { name: 'TimeoutError' });
  assert.equal((await fetch(`${w.url}/health`)).status, 200);
  // Nothing reached the engine.
  assert.equal((await simState(w)).stats.promptTokens, 0);
  await setFaults(w, { hang: false });
  assert.equal((await completion(w)).status, 200);
});

test('faults die-after - a stream is cut after exactly N tokens, without [DONE]', async (t) => {
  const w = await startSimWorker(t);
  const prompt = 'cut me off';
  const full = (await (await completion(w, { prompt, max_tokens: 10 })).json()) as { choices: { text: string }[] };

  const res = await completion(w, { prompt, max_tokens: 10, stream: true }, { 'x-sim-fault': 'die-after=3' });
  assert.equal(res.status, 200);
  const body = await readSse(res);
  assert.notEqual(body.error, null, 'the connection was cut');
  assert.equal(body.done, false);
  assert.ok(!body.raw.includes('[DONE]'));
  const chunks = sseJson<CompletionChunk>(body);
  assert.equal(chunks.length, 3);
  assert.ok(chunks.every((c) => c.choices[0]!.finish_reason === null));
  const text = chunks.map((c) => c.choices[0]!.text).join('');
  assert.ok(full.choices[0]!.text.startsWith(text));
  assert.equal(text.split(' ').length, 3);

  // Worker-wide, on a chat stream: the role chunk, then 3 token chunks.
  assert.equal((await setFaults(w, { dieAfterTokens: 3 })).status, 200);
  const chat = await postJson(`${w.url}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 10, stream: true });
  const cb = await readSse(chat);
  assert.equal(cb.done, false);
  const cc = sseJson<ChatChunk>(cb);
  assert.equal(cc.length, 4);
  assert.equal(cc[0]!.choices[0]!.delta.role, 'assistant');
  assert.ok(cc.slice(1).every((c) => typeof c.choices[0]!.delta.content === 'string' && c.choices[0]!.finish_reason === null));

  // The cut requests count as aborted.
  await eventually(async () => (await simState(w)).stats.finished.abort === 2, 'two aborts');
});

test('faults die-after - die-after=0 cuts the connection before any token (a stream after its head, as vLLM sends it at once)', async (t) => {
  const w = await startSimWorker(t);
  const json = await completion(w, { stream: false }, { 'x-sim-fault': 'die-after=0' }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(json instanceof TypeError, 'not streamed: the request failed without a response');
  const streamed = await completion(w, { stream: true }, { 'x-sim-fault': 'die-after=0' });
  assert.equal(streamed.status, 200, 'streamed: the head came at once');
  const body = await readSse(streamed);
  assert.ok(body.error !== null, 'then the connection was cut');
  assert.deepEqual(body.payloads, [], 'before any event');
  await eventually(async () => (await simState(w)).stats.finished.abort === 2, 'two aborts');
  const s = await simState(w);
  assert.equal(s.kv.free, s.kv.numBlocks);
});

test('faults crash - a crashed worker cuts open streams and refuses connections', async (t) => {
  const w = await startSimWorker(t);
  const open = await completion(w, { max_tokens: 3000, ignore_eos: true, stream: true });
  assert.equal(open.status, 200);
  const reader = open.body!.getReader();
  assert.equal((await reader.read()).done, false, 'the stream is running');
  const res = await setFaults(w, { crash: true });
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), { crashing: true, restartInMs: null });
  await eventually(() => refused(`${w.url}/health`), 'connection refused');
  assert.equal(errorCode(await completion(w).catch((e: unknown) => e)), 'ECONNREFUSED');
  // The open stream was cut without its end.
  let rest = '';
  const cut = await (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      rest += new TextDecoder().decode(value);
    }
  })().catch(() => true);
  assert.equal(cut, true, 'the stream ended with an error');
  assert.ok(!rest.includes('[DONE]'));
});

test('faults crash - crashForMs comes back with a new engine id and an empty cache', async (t) => {
  const w = await startSimWorker(t);
  const prompt = 'A prompt that will be cached before the crash, long enough to fill a few blocks of sixteen tokens.';
  await completion(w, { prompt });
  const second = (await (await completion(w, { prompt })).json()) as { usage: { prompt_tokens_details: { cached_tokens: number } } };
  assert.ok(second.usage.prompt_tokens_details.cached_tokens > 0, 'cache warm before the crash');
  const before = await simState(w);
  assert.ok(before.kv.cached > 0);

  const res = await setFaults(w, { crashForMs: 200 });
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), { crashing: true, restartInMs: 200 });
  await eventually(() => refused(`${w.url}/health`), 'connection refused while down');
  await eventually(async () => !(await refused(`${w.url}/health`)), 'back up');
  assert.equal((await fetch(`${w.url}/health`)).status, 200);

  const after = await simState(w);
  assert.notEqual(after.engineId, before.engineId);
  assert.equal(after.kv.cached, 0);
  assert.equal(after.kv.free, after.kv.numBlocks);
  assert.equal(after.stats.promptTokens, 0);
  const cold = (await (await completion(w, { prompt })).json()) as typeof second;
  assert.equal(cold.usage.prompt_tokens_details.cached_tokens, 0, 'the cache was lost');
  // Metrics restart from zero too.
  assert.equal(value(await scrape(w.url), 'vllm:request_success_total', { ...LABELS, finished_reason: 'length' }), 1);
});

test('faults slow start - /health is 503 then 200', async (t) => {
  const w = await startSimWorker(t);
  assert.equal((await setFaults(w, { slowStartMs: 500 })).status, 200);
  const h = await fetch(`${w.url}/health`);
  assert.equal(h.status, 503);
  assert.equal(await h.text(), '');
  assert.equal((await fetch(`${w.url}/ping`)).status, 503);
  await expectVllmError(await completion(w), 503);
  await eventually(async () => (await fetch(`${w.url}/health`)).status === 200, 'healthy after the slow start');
  assert.equal((await completion(w)).status, 200);
});

test('faults dead - /health is 503 and generation 500', async (t) => {
  const w = await startSimWorker(t);
  assert.equal((await setFaults(w, { dead: true })).status, 200);
  const h = await fetch(`${w.url}/health`);
  assert.equal(h.status, 503);
  assert.equal(await h.text(), '');
  const e = await expectVllmError(await completion(w), 500);
  assert.equal(e.type, 'InternalServerError');
  await expectVllmError(await completion(w, { stream: true }), 500);
  // The metrics endpoint still answers, as vLLM's does.
  assert.equal((await fetch(`${w.url}/metrics`)).status, 200);
});

test('faults validation - a bad x-sim-fault header or fault patch is 400', async (t) => {
  const w = await startSimWorker(t);
  for (const header of ['explode', 'error=200', 'die-after=-1', 'latency=soon', 'hang=yes']) {
    const e = await expectVllmError(await completion(w, {}, { 'x-sim-fault': header }), 400);
    assert.equal(e.param, 'x-sim-fault', header);
  }
  await expectVllmError(await setFaults(w, { errorRate: 2 }), 400);
  await expectVllmError(await setFaults(w, { typo: true }), 400);
  await expectVllmError(await setFaults(w, '{nope'), 400);
  // Nothing was changed by the rejected patches.
  assert.equal(((await (await fetch(`${w.url}/_sim/faults`)).json()) as { errorRate: number }).errorRate, 0);
});

test('faults disconnect - a client leaving mid-stream is counted as an abort and frees its blocks', async (t) => {
  const w = await startSimWorker(t);
  const numBlocks = (await simState(w)).kv.numBlocks;
  const ac = new AbortController();
  const res = await completion(w, { prompt: 'long running stream '.repeat(30), max_tokens: 3000, ignore_eos: true, stream: true }, {}, { signal: ac.signal });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  await reader.read();
  const during = await simState(w);
  assert.equal(during.running, 1);
  assert.ok(during.kv.free < numBlocks, 'the stream holds blocks');
  ac.abort();
  await reader.read().catch(() => undefined);
  await eventually(async () => (await simState(w)).stats.finished.abort === 1, 'abort counted');
  await eventually(async () => (await simState(w)).kv.free === numBlocks, 'blocks freed');
  const s = await simState(w);
  assert.equal(s.running, 0);
  assert.equal(s.openRequests, 0);
  const text = await scrape(w.url);
  assert.equal(value(text, 'vllm:request_success_total', { ...LABELS, finished_reason: 'abort' }), 1);
  assert.equal(value(text, 'vllm:num_requests_running', LABELS), 0);
  assert.equal(value(text, 'vllm:kv_cache_usage_perc', LABELS), 0);
});
