// The simulated worker's HTTP surface over real sockets, checked against vLLM's shapes
// (the OpenAI-compatible server's routes and bodies, and its /metrics names).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SimWorker } from '../../sim/worker.ts';
import { SIM_MODEL, eventually, simState, startSimWorker } from '../helpers/sim.ts';
import { find, metricType, postJson, readSse, samples, scrape, sseEvents, sseJson, value, type VllmErrorBody } from '../helpers/sim-http.ts';

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const LABELS = { model_name: SIM_MODEL, engine: '0' };

interface Completion {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; text: string; finish_reason: string | null; stop_reason: string | number | null; logprobs: unknown }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number; prompt_tokens_details?: { cached_tokens: number } };
  kv_transfer_params: unknown;
}
interface Chat {
  id: string;
  object: string;
  choices: { index: number; message: { role: string; content: string }; finish_reason: string | null; stop_reason: string | number | null }[];
  usage: Completion['usage'];
}
interface ChatChunk {
  id: string;
  object: string;
  choices: { index: number; delta: { role?: string; content?: string }; finish_reason: string | null; stop_reason?: string | number | null }[];
  usage?: Completion['usage'];
}
interface CompletionChunk {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; text: string; logprobs: unknown; finish_reason: string | null; stop_reason: string | number | null }[];
  usage?: Completion['usage'];
}

async function complete(w: SimWorker, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ res: Response; json: Completion }> {
  const res = await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, ...body }, headers);
  assert.equal(res.status, 200);
  return { res, json: (await res.json()) as Completion };
}

async function expectError(res: Response, status: number, param?: string | null): Promise<VllmErrorBody['error']> {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await res.json()) as VllmErrorBody;
  assert.deepEqual(Object.keys(body), ['error']);
  const e = body.error;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(e.code, status, 'code is the HTTP status as an integer');
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  assert.equal(typeof e.type, 'string');
  if (param !== undefined) assert.equal(e.param, param);
  return e;
}

test('http health - GET /health and GET or POST /ping answer 200 with an empty body', async (t) => {
  const w = await startSimWorker(t);
  for (const [path, method] of [
    ['/health', 'GET'],
    ['/ping', 'GET'],
    ['/ping', 'POST'],
  ] as const) {
    const r = await fetch(`${w.url}${path}`, { method });
    assert.equal(r.status, 200, `${method} ${path}`);
    assert.equal(await r.text(), '', `${method} ${path} body`);
  }
});

test('http version - /version answers {version}', async (t) => {
  const w = await startSimWorker(t);
  const r = await fetch(`${w.url}/version`);
  assert.equal(r.status, 200);
  const body = (await r.json()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['version']);
  assert.equal(typeof body.version, 'string');
  assert.ok((body.version as string).length > 0);
});

test('http load - /load counts in-flight generation requests', async (t) => {
  const w = await startSimWorker(t);
  const idle = (await (await fetch(`${w.url}/load`)).json()) as Record<string, unknown>;
  assert.deepEqual(idle, { server_load: 0 });
  const ac = new AbortController();
  const res = await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt: 'keep going', max_tokens: 2000, ignore_eos: true, stream: true }, {}, { signal: ac.signal });
  const reader = res.body!.getReader();
  await reader.read(); // the stream is running
  const busy = (await (await fetch(`${w.url}/load`)).json()) as { server_load: number };
  assert.equal(busy.server_load, 1);
  ac.abort();
  await reader.read().catch(() => undefined);
  await eventually(async () => ((await (await fetch(`${w.url}/load`)).json()) as { server_load: number }).server_load === 0, 'load back to 0');
});

test('http streams - the head comes as soon as the engine has the request, before its first token (as vLLM)', async (t) => {
  // One sequence at a time: the second request waits in the queue, and yet its head is there.
  const w = await startSimWorker(t, { maxNumSeqs: 1 });
  const ac = new AbortController();
  const busy = await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt: 'first', max_tokens: 2000, ignore_eos: true, stream: true }, {}, { signal: ac.signal });
  const reader = busy.body!.getReader();
  await reader.read();
  const queued = await postJson(`${w.url}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: 'second' }], max_tokens: 2, stream: true }, {}, { signal: ac.signal });
  assert.equal(queued.status, 200);
  assert.match(queued.headers.get('content-type') ?? '', /^text\/event-stream/);
  const s = await simState(w);
  assert.equal(s.waiting, 1, 'the second request has its head while it waits');
  assert.equal(s.running, 1);
  ac.abort();
  await reader.read().catch(() => undefined);
});

test('http models - /v1/models lists model cards with vLLM fields', async (t) => {
  const w = await startSimWorker(t, { models: [SIM_MODEL, 'sim-lora'] });
  const r = await fetch(`${w.url}/v1/models`);
  assert.equal(r.status, 200);
  const body = (await r.json()) as { object: string; data: Record<string, unknown>[] };
  assert.equal(body.object, 'list');
  assert.deepEqual(
    body.data.map((m) => m.id),
    [SIM_MODEL, 'sim-lora'],
  );
  for (const m of body.data) {
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'vllm');
    assert.equal(m.root, SIM_MODEL);
    assert.equal(m.max_model_len, 4096);
    assert.ok(Number.isInteger(m.created));
    assert.ok(Array.isArray(m.permission));
    assert.ok('parent' in m);
  }
});

test('http tokenize - prompt form returns count, max_model_len and tokens matching usage', async (t) => {
  const w = await startSimWorker(t);
  const prompt = 'Tokenize this sentence, please.';
  const r = await postJson(`${w.url}/tokenize`, { model: SIM_MODEL, prompt });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { count: number; max_model_len: number; tokens: number[] };
  assert.deepEqual(Object.keys(body).sort(), ['count', 'max_model_len', 'tokens']);
  assert.equal(body.max_model_len, 4096);
  assert.equal(body.count, body.tokens.length);
  assert.ok(body.count > 0);
  assert.ok(body.tokens.every((x) => Number.isInteger(x)));
  // The same text costs the same prompt tokens when generating.
  const { json } = await complete(w, { prompt, max_tokens: 1 });
  assert.equal(json.usage.prompt_tokens, body.count);
  // Token ids as a prompt give the same count as the text.
  const { json: byIds } = await complete(w, { prompt: body.tokens, max_tokens: 1 });
  assert.equal(byIds.usage.prompt_tokens, body.count);
});

test('http tokenize - chat messages form counts the templated prompt', async (t) => {
  const w = await startSimWorker(t);
  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say hello.' },
  ];
  const r = await postJson(`${w.url}/tokenize`, { model: SIM_MODEL, messages });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { count: number; max_model_len: number; tokens: number[] };
  assert.equal(body.count, body.tokens.length);
  assert.equal(body.max_model_len, 4096);
  const plain = (await (await postJson(`${w.url}/tokenize`, { prompt: 'You are terse.Say hello.' })).json()) as { count: number };
  assert.ok(body.count > plain.count, 'the chat template adds tokens');
  const chat = await postJson(`${w.url}/v1/chat/completions`, { model: SIM_MODEL, messages, max_tokens: 1 });
  assert.equal(chat.status, 200);
  assert.equal(((await chat.json()) as Chat).usage.prompt_tokens, body.count);
});

test('http tokenize - /detokenize inverts /tokenize', async (t) => {
  const w = await startSimWorker(t);
  const prompt = 'Round trip: naïve café, 12345 tokens — ok?';
  const tok = (await (await postJson(`${w.url}/tokenize`, { prompt })).json()) as { tokens: number[] };
  const r = await postJson(`${w.url}/detokenize`, { model: SIM_MODEL, tokens: tok.tokens });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { prompt });
  await expectError(await postJson(`${w.url}/detokenize`, { tokens: 'nope' }), 400);
  await expectError(await postJson(`${w.url}/tokenize`, {}), 400);
});

test('http metrics - every required family has vLLM type and labels', async (t) => {
  const w = await startSimWorker(t);
  await complete(w, { prompt: 'warm up the metrics', max_tokens: 3 });
  const res = await fetch(`${w.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  const types: Record<string, string> = {
    'vllm:num_requests_running': 'gauge',
    'vllm:num_requests_waiting': 'gauge',
    'vllm:kv_cache_usage_perc': 'gauge',
    'vllm:prefix_cache_queries_total': 'counter',
    'vllm:prefix_cache_hits_total': 'counter',
    'vllm:prompt_tokens_total': 'counter',
    'vllm:generation_tokens_total': 'counter',
    'vllm:request_success_total': 'counter',
    'vllm:time_to_first_token_seconds': 'histogram',
    'vllm:inter_token_latency_seconds': 'histogram',
    'vllm:cache_config_info': 'gauge',
  };
  for (const [family, type] of Object.entries(types)) assert.equal(metricType(text, family), type, family);
  for (const family of Object.keys(types)) {
    if (family === 'vllm:cache_config_info') continue;
    const rows = samples(text).filter((s) => s.name === family || s.name.startsWith(`${family}_`));
    assert.ok(rows.length > 0, `${family} has samples`);
    for (const s of rows) {
      assert.equal(s.labels.model_name, SIM_MODEL, `${s.name} model_name`);
      assert.equal(s.labels.engine, '0', `${s.name} engine`);
    }
  }
  const usage = value(text, 'vllm:kv_cache_usage_perc', LABELS);
  assert.ok(usage >= 0 && usage <= 1, `kv_cache_usage_perc ${usage}`);
  for (const reason of ['stop', 'length', 'abort']) {
    assert.equal(find(text, 'vllm:request_success_total', { ...LABELS, finished_reason: reason }).length, 1, reason);
  }
  const info = find(text, 'vllm:cache_config_info');
  assert.equal(info.length, 1);
  assert.equal(info[0]!.value, 1);
  assert.equal(info[0]!.labels.block_size, '16');
  assert.equal(info[0]!.labels.num_gpu_blocks, '512');
  assert.equal(info[0]!.labels.engine, '0');
});

test('http metrics - latency histograms use vLLM buckets', async (t) => {
  const w = await startSimWorker(t);
  await complete(w, { prompt: 'fill the histograms', max_tokens: 4 });
  const text = await scrape(w.url);
  const les = (family: string): number[] =>
    find(text, `${family}_bucket`, LABELS)
      .map((s) => s.labels.le!)
      .filter((le) => le !== '+Inf')
      .map(Number);
  assert.deepEqual(les('vllm:time_to_first_token_seconds'), TTFT_BUCKETS);
  assert.deepEqual(les('vllm:inter_token_latency_seconds'), ITL_BUCKETS);
  for (const family of ['vllm:time_to_first_token_seconds', 'vllm:inter_token_latency_seconds']) {
    const inf = value(text, `${family}_bucket`, { ...LABELS, le: '+Inf' });
    assert.equal(inf, value(text, `${family}_count`, LABELS), `${family} +Inf bucket = count`);
    const counts = find(text, `${family}_bucket`, LABELS).map((s) => s.value);
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => a - b),
      `${family} buckets are cumulative`,
    );
  }
});

test('http metrics - counters and histograms move with requests', async (t) => {
  const w = await startSimWorker(t);
  const prompt = 'A prompt long enough to fill two whole blocks of the simulated KV cache, and then some more words.';
  const { count } = (await (await postJson(`${w.url}/tokenize`, { prompt })).json()) as { count: number };
  assert.ok(count > 32);
  const before = await scrape(w.url);
  for (const name of ['vllm:prompt_tokens_total', 'vllm:generation_tokens_total', 'vllm:prefix_cache_queries_total', 'vllm:prefix_cache_hits_total'])
    assert.equal(value(before, name, LABELS), 0, name);

  await complete(w, { prompt, max_tokens: 5 });
  const after1 = await scrape(w.url);
  assert.equal(value(after1, 'vllm:prompt_tokens_total', LABELS), count);
  assert.equal(value(after1, 'vllm:generation_tokens_total', LABELS), 5);
  assert.equal(value(after1, 'vllm:prefix_cache_queries_total', LABELS), count);
  assert.equal(value(after1, 'vllm:prefix_cache_hits_total', LABELS), 0);
  assert.equal(value(after1, 'vllm:request_success_total', { ...LABELS, finished_reason: 'length' }), 1);
  assert.equal(value(after1, 'vllm:time_to_first_token_seconds_count', LABELS), 1);
  assert.equal(value(after1, 'vllm:inter_token_latency_seconds_count', LABELS), 4, 'five tokens, four gaps');

  // Same prompt again: the full blocks come from the prefix cache.
  await complete(w, { prompt, max_tokens: 5 });
  const after2 = await scrape(w.url);
  assert.equal(value(after2, 'vllm:prompt_tokens_total', LABELS), 2 * count);
  assert.equal(value(after2, 'vllm:prefix_cache_queries_total', LABELS), 2 * count);
  const hits = value(after2, 'vllm:prefix_cache_hits_total', LABELS);
  assert.equal(hits, Math.floor((count - 1) / 16) * 16);
  assert.equal(value(after2, 'vllm:request_success_total', { ...LABELS, finished_reason: 'length' }), 2);

  // An answer that ends on its own counts as "stop".
  const { json } = await complete(w, { prompt: 'natural end', max_tokens: 100 });
  assert.equal(json.choices[0]!.finish_reason, 'stop');
  const after3 = await scrape(w.url);
  assert.equal(value(after3, 'vllm:request_success_total', { ...LABELS, finished_reason: 'stop' }), 1);
  assert.equal(value(after3, 'vllm:generation_tokens_total', LABELS), 10 + json.usage.completion_tokens);
  // Scraping again without traffic changes no counter.
  const again = await scrape(w.url);
  assert.equal(value(again, 'vllm:generation_tokens_total', LABELS), 10 + json.usage.completion_tokens);
});

test('http metrics - gauges show a running request and KV usage while it streams', async (t) => {
  const w = await startSimWorker(t);
  const ac = new AbortController();
  const res = await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt: 'stream for a while '.repeat(20), max_tokens: 3000, ignore_eos: true, stream: true }, {}, { signal: ac.signal });
  const reader = res.body!.getReader();
  await reader.read();
  const text = await scrape(w.url);
  assert.equal(value(text, 'vllm:num_requests_running', LABELS), 1);
  assert.equal(value(text, 'vllm:num_requests_waiting', LABELS), 0);
  const usage = value(text, 'vllm:kv_cache_usage_perc', LABELS);
  assert.ok(usage > 0 && usage <= 1, `kv_cache_usage_perc ${usage}`);
  ac.abort();
  await reader.read().catch(() => undefined);
  await eventually(async () => value(await scrape(w.url), 'vllm:num_requests_running', LABELS) === 0, 'running back to 0');
  assert.equal(value(await scrape(w.url), 'vllm:kv_cache_usage_perc', LABELS), 0);
});

test('http cache - /reset_prefix_cache empties the prefix cache', async (t) => {
  const w = await startSimWorker(t);
  const prompt = 'A prompt repeated to hit the prefix cache, long enough for a couple of full blocks of tokens.';
  await complete(w, { prompt, max_tokens: 1 });
  const { json: warm } = await complete(w, { prompt, max_tokens: 1 });
  assert.ok(warm.usage.prompt_tokens_details!.cached_tokens > 0);
  const r = await fetch(`${w.url}/reset_prefix_cache`, { method: 'POST' });
  assert.equal(r.status, 200);
  assert.equal((await simState(w)).kv.cached, 0);
  const { json: cold } = await complete(w, { prompt, max_tokens: 1 });
  assert.equal(cold.usage.prompt_tokens_details!.cached_tokens, 0);
  // cache_salt isolates the cache: the same prompt with a salt does not hit.
  const { json: salted } = await complete(w, { prompt, max_tokens: 1, cache_salt: 'tenant-a' });
  assert.equal(salted.usage.prompt_tokens_details!.cached_tokens, 0);
  const { json: salted2 } = await complete(w, { prompt, max_tokens: 1, cache_salt: 'tenant-a' });
  assert.ok(salted2.usage.prompt_tokens_details!.cached_tokens > 0);
});

test('http sse - chat stream bytes are data events ending with [DONE]', async (t) => {
  const w = await startSimWorker(t);
  const res = await postJson(`${w.url}/v1/chat/completions`, {
    model: SIM_MODEL,
    messages: [{ role: 'user', content: 'stream please' }],
    max_tokens: 6,
    stream: true,
    stream_options: { include_usage: true },
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const body = await readSse(res);
  assert.equal(body.error, null);
  assert.match(body.raw, /^(data: [^\n]+\n\n)+$/, 'only `data: <payload>\\n\\n` events');
  assert.ok(body.raw.endsWith('data: [DONE]\n\n'));
  assert.equal(body.payloads.filter((p) => p === '[DONE]').length, 1);
  for (const e of sseEvents(body.raw).slice(0, -1)) assert.doesNotThrow(() => JSON.parse(e.slice(6)), e);
  const chunks = sseJson<ChatChunk>(body);
  // role chunk, 6 token chunks (the last with finish_reason), usage chunk
  assert.equal(chunks.length, 8);
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id));
  assert.deepEqual(chunks[0]!.choices[0]!.delta, { role: 'assistant', content: '' });
  assert.equal(chunks[6]!.choices[0]!.finish_reason, 'length');
  assert.deepEqual(chunks[7]!.choices, []);
  assert.equal(chunks[7]!.usage!.completion_tokens, 6);
});

test('http sse - completions stream chunks have text, finish_reason and stop_reason', async (t) => {
  const w = await startSimWorker(t);
  const prompt = 'The completions stream';
  const res = await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt, max_tokens: 5, stream: true });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const body = await readSse(res);
  assert.match(body.raw, /^(data: [^\n]+\n\n)+$/);
  assert.ok(body.done);
  const chunks = sseJson<CompletionChunk>(body);
  assert.equal(chunks.length, 5, 'one chunk per token');
  for (const c of chunks) {
    assert.equal(c.object, 'text_completion');
    assert.match(c.id, /^cmpl-/);
    assert.equal(c.model, SIM_MODEL);
    assert.ok(Number.isInteger(c.created));
    assert.equal(c.choices.length, 1);
    const ch = c.choices[0]!;
    assert.equal(ch.index, 0);
    assert.equal(typeof ch.text, 'string');
    assert.ok('logprobs' in ch && 'finish_reason' in ch && 'stop_reason' in ch);
    assert.equal(ch.stop_reason, null);
    assert.equal(c.usage, undefined);
  }
  assert.deepEqual(
    chunks.map((c) => c.choices[0]!.finish_reason),
    [null, null, null, null, 'length'],
  );
  const { json } = await complete(w, { prompt, max_tokens: 5 });
  assert.equal(chunks.map((c) => c.choices[0]!.text).join(''), json.choices[0]!.text);
});

test('http request id - X-Request-Id is echoed and names the response', async (t) => {
  const w = await startSimWorker(t);
  const { res, json } = await complete(w, { prompt: 'id please', max_tokens: 1 }, { 'x-request-id': 'req-abc-1' });
  assert.equal(res.headers.get('x-request-id'), 'req-abc-1');
  assert.equal(json.id, 'cmpl-req-abc-1');

  const chat = await postJson(`${w.url}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: 'id' }], max_tokens: 1 }, { 'x-request-id': 'req-abc-2' });
  assert.equal(chat.headers.get('x-request-id'), 'req-abc-2');
  assert.equal(((await chat.json()) as Chat).id, 'chatcmpl-req-abc-2');

  const stream = await postJson(`${w.url}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: 'id' }], max_tokens: 2, stream: true }, { 'x-request-id': 'req-abc-3' });
  assert.equal(stream.headers.get('x-request-id'), 'req-abc-3');
  const chunks = sseJson<ChatChunk>(await readSse(stream));
  assert.ok(chunks.length > 0);
  assert.ok(chunks.every((c) => c.id === 'chatcmpl-req-abc-3'));

  // Errors echo it too.
  const bad = await postJson(`${w.url}/v1/completions`, { model: 'nope', prompt: 'x' }, { 'x-request-id': 'req-abc-4' });
  assert.equal(bad.headers.get('x-request-id'), 'req-abc-4');
  await expectError(bad, 404);

  // Without the header, a fresh id is generated and echoed.
  const { res: r2, json: j2 } = await complete(w, { prompt: 'no id', max_tokens: 1 });
  const echoed = r2.headers.get('x-request-id');
  assert.ok(echoed && echoed.length > 0);
  assert.equal(j2.id, `cmpl-${echoed}`);

  // Reusing an id while the first request is still running does not collide.
  const [a, b] = await Promise.all([
    complete(w, { prompt: 'same id one', max_tokens: 4 }, { 'x-request-id': 'dup' }),
    complete(w, { prompt: 'same id two', max_tokens: 4 }, { 'x-request-id': 'dup' }),
  ]);
  assert.equal(a.json.choices[0]!.finish_reason, 'length');
  assert.equal(b.json.choices[0]!.finish_reason, 'length');
});

test('http errors - invalid JSON is a 400 in vLLM shape', async (t) => {
  const w = await startSimWorker(t);
  await expectError(await postJson(`${w.url}/v1/completions`, '{"model": "sim-model", "prompt": '), 400, null);
  await expectError(await postJson(`${w.url}/v1/chat/completions`, 'not json'), 400, null);
});

test('http errors - schema errors are 400 Bad Request naming the dotted field', async (t) => {
  const w = await startSimWorker(t);
  const e = await expectError(await postJson(`${w.url}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: 5 }] }), 400, 'messages.0.content');
  assert.equal(e.type, 'Bad Request');
  const missing = await expectError(await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL }), 400, 'prompt');
  assert.equal(missing.type, 'Bad Request');
  await expectError(await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt: 'x', max_tokens: 'ten' }), 400, 'max_tokens');
});

test('http errors - max_tokens 0 and max_tokens beyond the context are 400 on max_tokens', async (t) => {
  const w = await startSimWorker(t);
  const zero = await expectError(await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt: 'x', max_tokens: 0 }), 400, 'max_tokens');
  assert.equal(zero.type, 'BadRequestError');
  await expectError(await postJson(`${w.url}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 0 }), 400, 'max_tokens');
  const big = await expectError(await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt: 'x', max_tokens: 5000 }), 400, 'max_tokens');
  assert.match(big.message, /maximum context length is 4096 tokens/);
});

test('http errors - a prompt beyond the context length is 400', async (t) => {
  const w = await startSimWorker(t);
  const prompt = ' ab'.repeat(5000);
  const e = await expectError(await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt, max_tokens: 1 }), 400, 'prompt');
  assert.equal(e.type, 'BadRequestError');
  assert.match(e.message, /maximum context length is 4096 tokens/);
  assert.match(e.message, /5000 input tokens/);
  const chat = await expectError(await postJson(`${w.url}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: prompt }], stream: true }), 400, 'messages');
  assert.match(chat.message, /maximum context length/);
  // Nothing reached the engine.
  assert.equal((await simState(w)).stats.promptTokens, 0);
});

test('http errors - unknown model is 404 NotFoundError with vLLM wording', async (t) => {
  const w = await startSimWorker(t);
  const e = await expectError(await postJson(`${w.url}/v1/completions`, { model: 'x', prompt: 'hi' }), 404, 'model');
  assert.equal(e.message, 'The model `x` does not exist.');
  assert.equal(e.type, 'NotFoundError');
  const s = await expectError(await postJson(`${w.url}/v1/chat/completions`, { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true }), 404, 'model');
  assert.equal(s.message, 'The model `gpt-4o` does not exist.');
});

test('http errors - n=2 is 400 on n', async (t) => {
  const w = await startSimWorker(t);
  const e = await expectError(await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt: 'hi', n: 2 }), 400, 'n');
  assert.equal(e.type, 'BadRequestError');
  await expectError(await postJson(`${w.url}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: 'hi' }], n: 2 }), 400, 'n');
});

test('http routes - unknown route is 404 and a wrong method is 405', async (t) => {
  const w = await startSimWorker(t);
  for (const path of ['/nope', '/chat/completions', '/v1/embeddings']) {
    const r = await fetch(`${w.url}${path}`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 404, path);
    assert.deepEqual(await r.json(), { detail: 'Not Found' });
  }
  for (const [path, method] of [
    ['/v1/completions', 'GET'],
    ['/v1/chat/completions', 'GET'],
    ['/health', 'POST'],
    ['/v1/models', 'POST'],
    ['/tokenize', 'GET'],
  ] as const) {
    const r = await fetch(`${w.url}${path}`, { method });
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.deepEqual(await r.json(), { detail: 'Method Not Allowed' });
  }
  // A query string does not change the route.
  assert.equal((await fetch(`${w.url}/health?x=1`)).status, 200);
});

test('http stop - a stop string ends with finish_reason stop and stop_reason the string', async (t) => {
  const w = await startSimWorker(t);
  const prompt = 'Tell me about stop strings';
  const { json: full } = await complete(w, { prompt, max_tokens: 24, ignore_eos: true });
  const text = full.choices[0]!.text;
  // A stop string taken from the middle of the deterministic answer.
  const words = text.split(' ');
  const stop = ` ${words[6]!}`;
  const at = text.indexOf(stop);
  assert.ok(at > 0);

  const { json } = await complete(w, { prompt, max_tokens: 24, ignore_eos: true, stop: [stop, 'never-matches'] });
  const c = json.choices[0]!;
  assert.equal(c.finish_reason, 'stop');
  assert.equal(c.stop_reason, stop);
  assert.equal(c.text, text.slice(0, at));
  assert.ok(!c.text.includes(stop));
  assert.ok(json.usage.completion_tokens < 24);

  // include_stop_str_in_output keeps it.
  const { json: kept } = await complete(w, { prompt, max_tokens: 24, ignore_eos: true, stop, include_stop_str_in_output: true });
  assert.equal(kept.choices[0]!.text, text.slice(0, at + stop.length));
  assert.equal(kept.choices[0]!.stop_reason, stop);

  // Streamed: the same text, and the last chunk names the stop string.
  const res = await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt, max_tokens: 24, ignore_eos: true, stop: [stop], stream: true });
  const chunks = sseJson<CompletionChunk>(await readSse(res));
  assert.equal(chunks.map((ch) => ch.choices[0]!.text).join(''), c.text);
  const last = chunks.at(-1)!.choices[0]!;
  assert.equal(last.finish_reason, 'stop');
  assert.equal(last.stop_reason, stop);
  assert.ok(chunks.slice(0, -1).every((ch) => ch.choices[0]!.finish_reason === null));

  // A stop string spanning two tokens: the text that could start it is held back, then dropped.
  const boundary = text.indexOf(' ', text.indexOf(' ', 1) + 1); // start of the third token
  const spanning = text.slice(boundary - 2, boundary + 3);
  const first = text.indexOf(spanning);
  const streamed = await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt, max_tokens: 24, ignore_eos: true, stop: spanning, stream: true });
  const sc = sseJson<CompletionChunk>(await readSse(streamed));
  assert.equal(sc.map((ch) => ch.choices[0]!.text).join(''), text.slice(0, first));
  assert.equal(sc.at(-1)!.choices[0]!.stop_reason, spanning);
  assert.equal(sc.at(-1)!.choices[0]!.finish_reason, 'stop');
});

test('http length - ignore_eos with max_tokens gives exactly max_tokens tokens', async (t) => {
  const w = await startSimWorker(t, { outputLength: { min: 3, max: 3 } });
  for (const max of [1, 10, 80]) {
    const { json } = await complete(w, { prompt: `exactly ${max}`, max_tokens: max, ignore_eos: true });
    assert.equal(json.choices[0]!.finish_reason, 'length', `max_tokens ${max}`);
    assert.equal(json.usage.completion_tokens, max);
    assert.equal(json.choices[0]!.text.split(' ').length, max, 'one word per token');
  }
  const chat = await postJson(`${w.url}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: 'long' }], max_completion_tokens: 50, ignore_eos: true, stream: true });
  const chunks = sseJson<ChatChunk>(await readSse(chat));
  // role chunk + one chunk per token
  assert.equal(chunks.length, 51);
  assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'length');
});

test('http length - without ignore_eos a large max_tokens ends with stop at the natural length', async (t) => {
  const w = await startSimWorker(t);
  const lengths = new Set<number>();
  for (let i = 0; i < 6; i++) {
    const { json } = await complete(w, { prompt: `natural length ${i}`, max_tokens: 1000 });
    const c = json.choices[0]!;
    assert.equal(c.finish_reason, 'stop');
    assert.equal(c.stop_reason, null, 'EOS is not a stop string');
    assert.ok(json.usage.completion_tokens >= 8 && json.usage.completion_tokens <= 32, `completion_tokens ${json.usage.completion_tokens}`);
    lengths.add(json.usage.completion_tokens);
    // Deterministic: the same prompt ends at the same place.
    const { json: again } = await complete(w, { prompt: `natural length ${i}`, max_tokens: 1000 });
    assert.equal(again.usage.completion_tokens, json.usage.completion_tokens);
    assert.equal(again.choices[0]!.text, c.text);
  }
  assert.ok(lengths.size > 1, 'lengths vary with the prompt');

  const fixed = await startSimWorker(t, { outputLength: { min: 5, max: 5 } });
  const { json } = await complete(fixed, { prompt: 'fixed', max_tokens: 1000 });
  assert.equal(json.choices[0]!.finish_reason, 'stop');
  assert.equal(json.usage.completion_tokens, 5);
  // min_tokens postpones EOS.
  const { json: min } = await complete(fixed, { prompt: 'fixed', max_tokens: 1000, min_tokens: 9 });
  assert.equal(min.choices[0]!.finish_reason, 'stop');
  assert.equal(min.usage.completion_tokens, 9);
});
