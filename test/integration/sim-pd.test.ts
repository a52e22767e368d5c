// Prefill/decode disaggregation between simulated workers over real sockets: NIXL (P returns
// kv_transfer_params, D pulls the blocks) and P2P-NCCL (ZeroMQ discovery, peers named in the
// request id), as docs/ARCHITECTURE.md#driving-vllms-disaggregated-serving describes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { randomUUID } from 'node:crypto';
import { decode } from '@msgpack/msgpack';
import { Router } from 'zeromq';
import type { SimWorker } from '../../sim/worker.ts';
import { SIM_MODEL, eventually, setFaults, simState, startSimWorker } from '../helpers/sim.ts';
import { postJson, readSse, scrape, sseJson, value, type VllmErrorBody } from '../helpers/sim-http.ts';

const LABELS = { model_name: SIM_MODEL, engine: '0' };
const BLOCK = 16;

interface KvParams {
  do_remote_prefill: boolean;
  do_remote_decode: boolean;
  remote_engine_id: string;
  remote_block_ids: number[][];
  remote_request_id: string;
  remote_host: string;
  remote_port: number;
  tp_size: number;
}
interface Completion {
  id: string;
  choices: { text: string; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number; prompt_tokens_details: { cached_tokens: number } };
  kv_transfer_params: KvParams | null;
}
interface Chat {
  choices: { message: { content: string }; finish_reason: string }[];
  usage: Completion['usage'];
  kv_transfer_params: KvParams | null;
}
interface CompletionChunk {
  choices: { text: string; finish_reason: string | null }[];
  usage?: Completion['usage'];
}

const PROMPT =
  'Disaggregated serving splits a request in two: a prefill worker computes the prompt, a decode worker streams the answer. ' +
  'The KV cache moves between them, block by block, over the fastest link the cluster has.';

/** The kv_transfer_params a router puts on the prefill leg (toy_proxy_server.py). */
const PREFILL_KV = {
  do_remote_decode: true,
  do_remote_prefill: false,
  remote_engine_id: null,
  remote_block_ids: null,
  remote_host: null,
  remote_port: null,
};

/** The prefill leg as a NIXL router builds it from the client's body. */
function prefillLeg(original: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = { ...original, stream: false, max_tokens: 1, kv_transfer_params: PREFILL_KV };
  if ('max_completion_tokens' in original) body.max_completion_tokens = 1;
  delete body.stream_options;
  delete body.min_tokens;
  return body;
}

async function promptTokens(w: SimWorker, prompt: string): Promise<number> {
  const r = await postJson(`${w.url}/tokenize`, { prompt });
  return ((await r.json()) as { count: number }).count;
}

async function prefill(p: SimWorker, original: Record<string, unknown>, requestId: string, path = '/v1/completions'): Promise<Completion> {
  const res = await postJson(`${p.url}${path}`, prefillLeg(original), { 'x-request-id': requestId });
  assert.equal(res.status, 200);
  return (await res.json()) as Completion;
}

async function nixlPair(t: TestContext, decodeOverrides: Parameters<typeof startSimWorker>[1] = {}): Promise<{ p: SimWorker; d: SimWorker }> {
  const p = await startSimWorker(t, { role: 'prefill' });
  const d = await startSimWorker(t, { role: 'decode', ...decodeOverrides });
  return { p, d };
}

const ORIGINAL = { model: SIM_MODEL, prompt: PROMPT, max_tokens: 12, stream: true, stream_options: { include_usage: true } };

test('pd nixl - prefill leg answers one token and kv_transfer_params naming its held blocks', async (t) => {
  const { p } = await nixlPair(t);
  const n = await promptTokens(p, PROMPT);
  const before = await simState(p);
  const r = await prefill(p, ORIGINAL, 'pd-nixl-1');
  assert.equal(r.id, 'cmpl-pd-nixl-1');
  assert.equal(r.choices[0]!.finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 1);
  assert.equal(r.usage.prompt_tokens, n);
  const kv = r.kv_transfer_params!;
  assert.ok(kv);
  assert.deepEqual(Object.keys(kv).sort(), ['do_remote_decode', 'do_remote_prefill', 'remote_block_ids', 'remote_engine_id', 'remote_host', 'remote_port', 'remote_request_id', 'tp_size']);
  assert.equal(kv.do_remote_prefill, true);
  assert.equal(kv.do_remote_decode, false);
  assert.equal(kv.remote_engine_id, before.engineId);
  assert.ok(Array.isArray(kv.remote_block_ids) && kv.remote_block_ids.every((g) => Array.isArray(g) && g.every((b) => Number.isInteger(b))), 'one list of block ids per KV-cache group');
  const blocks = kv.remote_block_ids.flat();
  assert.equal(blocks.length, Math.ceil(n / BLOCK));
  assert.ok(blocks.length * BLOCK >= n, 'the blocks cover the prompt');
  assert.equal(new Set(blocks).size, blocks.length);
  assert.equal(typeof kv.remote_request_id, 'string');
  assert.ok(kv.remote_request_id.includes('pd-nixl-1'));
  assert.equal(kv.remote_host, '127.0.0.1');
  assert.equal(kv.remote_port, p.port);
  assert.equal(kv.tp_size, 1);

  const s = await simState(p);
  assert.equal(s.kv.leases, 1);
  assert.equal(s.kv.free, before.kv.free - blocks.length, 'the prefill worker holds the blocks');
  assert.equal(s.running, 0);
});

test('pd nixl - decode leg streams the answer from pulled KV and the prefill worker frees its blocks', async (t) => {
  const { p, d } = await nixlPair(t);
  const n = await promptTokens(p, PROMPT);
  const numBlocks = (await simState(p)).kv.numBlocks;
  const r = await prefill(p, ORIGINAL, 'pd-nixl-2');

  const res = await postJson(`${d.url}/v1/completions`, { ...ORIGINAL, kv_transfer_params: r.kv_transfer_params }, { 'x-request-id': 'pd-nixl-2' });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const body = await readSse(res);
  assert.ok(body.done);
  const chunks = sseJson<CompletionChunk>(body);
  const text = chunks.map((c) => c.choices[0]?.text ?? '').join('');
  const usage = chunks.at(-1)!.usage!;
  assert.equal(usage.completion_tokens, 12);
  assert.equal(usage.prompt_tokens, n);
  // As vLLM reports it: the KV loaded from P counts as cached (all but the last prompt token,
  // which decode recomputes to produce its first token).
  assert.equal(usage.prompt_tokens_details.cached_tokens, n - 1);
  assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'length');

  const ds = await simState(d);
  assert.equal(ds.stats.promptTokensComputed, 0, 'decode did no prefill');
  assert.equal(ds.stats.remoteKvTokensLoaded, n);
  assert.equal(ds.stats.remoteKvLoadFailures, 0);
  const ps = await simState(p);
  assert.equal(ps.kv.leases, 0);
  assert.equal(ps.kv.free, numBlocks, 'prefill blocks are free again');
  assert.equal(ps.stats.promptTokensComputed, n);
  const dm = await scrape(d.url);
  assert.equal(value(dm, 'vllm:nixl_num_failed_transfers_total', LABELS), 0);
  assert.equal(value(await scrape(p.url), 'vllm:nixl_num_failed_transfers_total', LABELS), 0);
  // Remote KV is not a local prefix-cache hit (vLLM counts it apart, as external hits).
  assert.equal(value(dm, 'vllm:prefix_cache_queries_total', LABELS), n);
  assert.equal(value(dm, 'vllm:prefix_cache_hits_total', LABELS), 0);

  // The decode worker's answer is the one a single worker gives for the same request.
  const plain = await postJson(`${p.url}/v1/completions`, { model: SIM_MODEL, prompt: PROMPT, max_tokens: 12 });
  assert.equal(((await plain.json()) as Completion).choices[0]!.text, text);
});

test('pd nixl - a decode worker with part of the prompt cached pulls only the rest', async (t) => {
  const { p, d } = await nixlPair(t);
  const n = await promptTokens(p, PROMPT);
  // The decode worker served the same prompt whole before: its prefix cache has the full blocks.
  const warm = await postJson(`${d.url}/v1/completions`, { model: SIM_MODEL, prompt: PROMPT, max_tokens: 1 });
  assert.equal(warm.status, 200);
  await warm.arrayBuffer();
  const local = Math.floor((n - 1) / BLOCK) * BLOCK;
  assert.ok(local > 0 && local < n);
  const before = await simState(d);

  const r = await prefill(p, ORIGINAL, 'pd-nixl-local');
  const res = await postJson(`${d.url}/v1/completions`, { ...ORIGINAL, kv_transfer_params: r.kv_transfer_params }, { 'x-request-id': 'pd-nixl-local' });
  assert.equal(res.status, 200);
  const body = await readSse(res);
  assert.ok(body.done);
  assert.equal(sseJson<CompletionChunk>(body).at(-1)!.usage!.prompt_tokens_details.cached_tokens, n - 1);

  const ds = await simState(d);
  assert.equal(ds.stats.remoteKvTokensLoaded - before.stats.remoteKvTokensLoaded, n - local, 'only the uncached tokens were read');
  assert.equal(ds.stats.promptTokensComputed, before.stats.promptTokensComputed, 'and nothing was computed');
  assert.equal(ds.stats.remoteKvLoadFailures, 0);
  // The local part counts as prefix-cache hits; the pulled part does not.
  assert.equal(value(await scrape(d.url), 'vllm:prefix_cache_hits_total', LABELS), local);
  const ps = await simState(p);
  assert.equal(ps.kv.leases, 0, 'the prefill worker released the whole lease');
  assert.equal(ps.kv.free, ps.kv.numBlocks);
});

test('pd nixl - chat legs work the same, with max_completion_tokens', async (t) => {
  const { p, d } = await nixlPair(t);
  const original = { model: SIM_MODEL, messages: [{ role: 'user', content: PROMPT }], max_completion_tokens: 6 };
  const r = await prefill(p, original, 'pd-nixl-chat', '/v1/chat/completions');
  assert.equal(r.usage.completion_tokens, 1);
  assert.equal(r.kv_transfer_params!.remote_request_id, 'chatcmpl-pd-nixl-chat');
  const res = await postJson(`${d.url}/v1/chat/completions`, { ...original, kv_transfer_params: r.kv_transfer_params }, { 'x-request-id': 'pd-nixl-chat' });
  assert.equal(res.status, 200);
  const chat = (await res.json()) as Chat;
  assert.equal(chat.usage.completion_tokens, 6);
  assert.equal(chat.choices[0]!.finish_reason, 'length');
  assert.equal(chat.kv_transfer_params, null);
  const ds = await simState(d);
  assert.equal(ds.stats.promptTokensComputed, 0);
  assert.equal(ds.stats.remoteKvTokensLoaded, r.usage.prompt_tokens);
  assert.equal((await simState(p)).kv.leases, 0);
});

test('pd nixl - a streaming prefill leg is rejected with 400', async (t) => {
  const { p } = await nixlPair(t);
  const res = await postJson(`${p.url}/v1/completions`, { ...prefillLeg(ORIGINAL), stream: true });
  assert.equal(res.status, 400);
  const e = ((await res.json()) as VllmErrorBody).error;
  assert.equal(e.code, 400);
  assert.equal(e.param, 'stream');
  const s = await simState(p);
  assert.equal(s.kv.leases, 0);
  assert.equal(s.stats.promptTokens, 0);
});

test('pd nixl - a wrong remote_engine_id makes decode recompute and count a failed transfer', async (t) => {
  const { p, d } = await nixlPair(t);
  const n = await promptTokens(p, PROMPT);
  const r = await prefill(p, ORIGINAL, 'pd-nixl-wrong');
  const kv = { ...r.kv_transfer_params!, remote_engine_id: randomUUID() };
  const res = await postJson(`${d.url}/v1/completions`, { ...ORIGINAL, stream: false, stream_options: undefined, kv_transfer_params: kv }, { 'x-request-id': 'pd-nixl-wrong' });
  assert.equal(res.status, 200);
  const out = (await res.json()) as Completion;
  assert.equal(out.usage.completion_tokens, 12);
  assert.equal(out.usage.prompt_tokens_details.cached_tokens, 0, 'nothing came from a remote worker');
  const ds = await simState(d);
  assert.equal(ds.stats.promptTokensComputed, n, 'the prompt was recomputed');
  assert.equal(ds.stats.remoteKvTokensLoaded, 0);
  assert.equal(ds.stats.remoteKvLoadFailures, 1);
  assert.equal(value(await scrape(d.url), 'vllm:nixl_num_failed_transfers_total', LABELS), 1);
  // The transfer failed on the decode side; the prefill worker still holds the KV (until its lease ends).
  assert.equal((await simState(p)).kv.leases, 1);
  assert.equal(value(await scrape(p.url), 'vllm:nixl_num_failed_transfers_total', LABELS), 0);
});

test('pd nixl - reused (already read) params make decode recompute and count a failed transfer', async (t) => {
  const { p, d } = await nixlPair(t);
  const n = await promptTokens(p, PROMPT);
  const r = await prefill(p, ORIGINAL, 'pd-nixl-reuse');
  const body = { model: SIM_MODEL, prompt: PROMPT, max_tokens: 4, kv_transfer_params: r.kv_transfer_params };
  const first = await postJson(`${d.url}/v1/completions`, body, { 'x-request-id': 'pd-nixl-reuse' });
  assert.equal(first.status, 200);
  await first.arrayBuffer();
  const again = await postJson(`${d.url}/v1/completions`, body, { 'x-request-id': 'pd-nixl-reuse' });
  assert.equal(again.status, 200);
  assert.equal(((await again.json()) as Completion).usage.completion_tokens, 4);
  const ds = await simState(d);
  assert.equal(ds.stats.remoteKvTokensLoaded, n, 'only the first read loaded KV');
  assert.equal(ds.stats.remoteKvLoadFailures, 1);
  // What the first request left in the decode worker's prefix cache is not computed again.
  const local = Math.floor((n - 1) / BLOCK) * BLOCK;
  assert.equal(ds.stats.promptTokensComputed, n - local, 'the second request recomputed the rest of the prompt');
  assert.equal(value(await scrape(d.url), 'vllm:nixl_num_failed_transfers_total', LABELS), 1);
});

test('pd nixl - with kv_load_failure_policy fail a failed pull is a 500', async (t) => {
  const { p, d } = await nixlPair(t, { kvLoadFailurePolicy: 'fail' });
  const r = await prefill(p, ORIGINAL, 'pd-nixl-fail');
  for (const [stream, kv] of [
    [true, { ...r.kv_transfer_params!, remote_engine_id: 'not-the-engine' }],
    [false, { ...r.kv_transfer_params!, remote_request_id: 'never-prefilled' }],
    [false, { do_remote_prefill: true, do_remote_decode: false }], // no address at all
  ] as const) {
    const res = await postJson(`${d.url}/v1/completions`, { ...ORIGINAL, stream, stream_options: stream ? ORIGINAL.stream_options : undefined, kv_transfer_params: kv });
    // A stream's head went out when the engine took the request: its failure is an error event.
    assert.equal(res.status, stream ? 200 : 500);
    const e = stream ? sseJson<{ error?: VllmErrorBody['error'] }>(await readSse(res)).at(-1)!.error! : ((await res.json()) as VllmErrorBody).error;
    assert.equal(e.code, 500);
    assert.equal(e.type, 'InternalServerError');
  }
  const ds = await simState(d);
  assert.equal(ds.stats.promptTokensComputed, 0);
  assert.equal(ds.stats.generationTokens, 0);
  assert.equal(value(await scrape(d.url), 'vllm:nixl_num_failed_transfers_total', LABELS), 3);
  // The failed requests hold no decode blocks.
  assert.equal(ds.kv.free, ds.kv.numBlocks);
  // The real KV is still there: a correct decode leg works.
  const ok = await postJson(`${d.url}/v1/completions`, { ...ORIGINAL, stream: false, stream_options: undefined, kv_transfer_params: r.kv_transfer_params });
  assert.equal(ok.status, 200);
  assert.equal((await simState(d)).stats.promptTokensComputed, 0);
});

test('pd nixl - a prefill worker gone before the read makes decode recompute', async (t) => {
  const { p, d } = await nixlPair(t);
  const n = await promptTokens(p, PROMPT);
  const r = await prefill(p, ORIGINAL, 'pd-nixl-gone');
  await p.stop();
  const res = await postJson(`${d.url}/v1/completions`, { model: SIM_MODEL, prompt: PROMPT, max_tokens: 3, kv_transfer_params: r.kv_transfer_params });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as Completion).usage.completion_tokens, 3);
  const ds = await simState(d);
  assert.equal(ds.stats.remoteKvLoadFailures, 1);
  assert.equal(ds.stats.promptTokensComputed, n);
  assert.equal(value(await scrape(d.url), 'vllm:nixl_num_failed_transfers_total', LABELS), 1);
});

test('pd nixl - KV never read is freed when the lease expires', async (t) => {
  const p = await startSimWorker(t, { role: 'prefill', kvLeaseMs: 200 });
  const d = await startSimWorker(t, { role: 'decode' });
  const numBlocks = (await simState(p)).kv.numBlocks;
  const r = await prefill(p, ORIGINAL, 'pd-nixl-expire');
  const held = await simState(p);
  assert.equal(held.kv.leases, 1);
  assert.ok(held.kv.free < numBlocks);
  await eventually(async () => (await simState(p)).kv.leases === 0, 'lease expired');
  const s = await simState(p);
  assert.equal(s.kv.free, numBlocks);
  assert.equal(s.nixl.expiredLeases, 1);
  assert.equal(value(await scrape(p.url), 'vllm:nixl_num_kv_expired_reqs_total', LABELS), 1);
  // A late decode leg finds nothing to read and recomputes.
  const late = await postJson(`${d.url}/v1/completions`, { model: SIM_MODEL, prompt: PROMPT, max_tokens: 2, kv_transfer_params: r.kv_transfer_params });
  assert.equal(late.status, 200);
  assert.equal((await simState(d)).stats.remoteKvLoadFailures, 1);
});

test('pd nixl - prefill legs reusing one X-Request-Id keep separate leases', async (t) => {
  const { p, d } = await nixlPair(t);
  const numBlocks = (await simState(p)).kv.numBlocks;
  const other = { ...ORIGINAL, prompt: `${PROMPT} A second prompt, different from the first.` };
  const a = await prefill(p, ORIGINAL, 'pd-nixl-same');
  const b = await prefill(p, other, 'pd-nixl-same');
  assert.notEqual(a.kv_transfer_params!.remote_request_id, b.kv_transfer_params!.remote_request_id);
  assert.equal((await simState(p)).kv.leases, 2);
  for (const [body, r] of [
    [ORIGINAL, a],
    [other, b],
  ] as const) {
    const res = await postJson(`${d.url}/v1/completions`, { ...body, stream: false, stream_options: undefined, kv_transfer_params: r.kv_transfer_params }, { 'x-request-id': 'pd-nixl-same' });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  }
  const ds = await simState(d);
  assert.equal(ds.stats.promptTokensComputed, 0);
  assert.equal(ds.stats.remoteKvLoadFailures, 0);
  const ps = await simState(p);
  assert.equal(ps.kv.leases, 0);
  assert.equal(ps.kv.free, numBlocks);
});

// ---------------------------------------------------------------------------------------------
// P2P-NCCL

interface Registration {
  identity: string;
  type: 'P' | 'D';
  http_address: string;
  zmq_address: string;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A discovery proxy: a ZeroMQ ROUTER the workers register with. */
async function startProxy(t: TestContext): Promise<{ router: Router; endpoint: string }> {
  const router = new Router({ linger: 0 });
  await router.bind('tcp://127.0.0.1:*');
  t.after(() => router.close());
  const endpoint = router.lastEndpoint;
  assert.ok(endpoint);
  return { router, endpoint };
}

async function nextRegistration(router: Router): Promise<Registration> {
  const frames = await withTimeout(router.receive(), 3000, 'a registration');
  assert.equal(frames.length, 2, 'frames are [identity, payload]');
  const payload = decode(frames[1]!) as Omit<Registration, 'identity'>;
  return { identity: frames[0]!.toString(), ...payload };
}

function p2pId(prefillZmq: string, decodeZmq: string): string {
  return `___prefill_addr_${prefillZmq}___decode_addr_${decodeZmq}_${randomUUID().replaceAll('-', '')}`;
}

async function p2pWorker(t: TestContext, role: 'prefill' | 'decode', proxy: string | null, extra: Parameters<typeof startSimWorker>[1] = {}): Promise<SimWorker> {
  return startSimWorker(t, { role, kvConnector: 'p2p-nccl', p2p: { kvPort: 0, proxy, kvWaitMs: 1000 }, ...extra });
}

async function zmqOf(w: SimWorker): Promise<string> {
  const s = (await (await fetch(`${w.url}/_sim/state`)).json()) as { zmqAddress: string };
  return s.zmqAddress;
}

test('pd p2p-nccl - workers register with the proxy and a P/D request skips prefill on decode', async (t) => {
  const { router, endpoint } = await startProxy(t);
  const p = await p2pWorker(t, 'prefill', endpoint);
  const d = await p2pWorker(t, 'decode', endpoint);
  const regs = [await nextRegistration(router), await nextRegistration(router)];
  const byType = new Map(regs.map((r) => [r.type, r]));
  assert.deepEqual([...byType.keys()].sort(), ['D', 'P']);
  for (const [type, w] of [
    ['P', p],
    ['D', d],
  ] as const) {
    const reg = byType.get(type)!;
    assert.equal(reg.http_address, `127.0.0.1:${w.port}`);
    assert.equal(reg.zmq_address, await zmqOf(w));
    assert.equal(reg.identity, reg.zmq_address, 'the DEALER identity is the zmq_address');
    assert.match(reg.zmq_address, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(reg.zmq_address, `127.0.0.1:0`);
  }

  const n = await promptTokens(p, PROMPT);
  const id = p2pId(byType.get('P')!.zmq_address, byType.get('D')!.zmq_address);
  const original = { model: SIM_MODEL, prompt: PROMPT, max_tokens: 8, stream: true };
  // Prefill leg: the same body with max_tokens 1, stream unchanged, no kv_transfer_params.
  const pres = await postJson(`${p.url}/v1/completions`, { ...original, max_tokens: 1 }, { 'x-request-id': id });
  assert.equal(pres.status, 200);
  const pbody = await readSse(pres);
  assert.ok(pbody.done);
  // Decode leg: the original body, same id.
  const dres = await postJson(`${d.url}/v1/completions`, original, { 'x-request-id': id });
  assert.equal(dres.status, 200);
  assert.equal(dres.headers.get('x-request-id'), id);
  const dbody = await readSse(dres);
  assert.ok(dbody.done);
  const chunks = sseJson<CompletionChunk>(dbody);
  assert.equal(chunks.length, 8);
  assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'length');

  const ds = await simState(d);
  assert.equal(ds.stats.promptTokensComputed, 0, 'decode did no prefill');
  assert.equal(ds.stats.remoteKvTokensLoaded, n);
  assert.equal(ds.p2p!.kvReceived, 1);
  assert.equal(ds.p2p!.failedTransfers, 0);
  await eventually(async () => (await simState(p)).p2p!.kvSent === 1, 'prefill counted its KV send');
  assert.equal((await simState(p)).stats.promptTokensComputed, n);
});

test('pd p2p-nccl - a request id without peer addresses fails with 500 on both workers', async (t) => {
  const p = await p2pWorker(t, 'prefill', null);
  const d = await p2pWorker(t, 'decode', null);
  for (const w of [p, d]) {
    for (const headers of [{ 'x-request-id': 'plain-request-id' }, {}] as Record<string, string>[]) {
      const res = await postJson(`${w.url}/v1/completions`, { model: SIM_MODEL, prompt: PROMPT, max_tokens: 1 }, headers);
      assert.equal(res.status, 500);
      const e = ((await res.json()) as VllmErrorBody).error;
      assert.equal(e.code, 500);
      assert.match(e.message, /does not contain hostname and port/);
    }
    assert.equal((await simState(w)).stats.promptTokens, 0);
  }
});

test('pd p2p-nccl - a decode whose prefill never sent KV fails (policy fail) or recomputes (policy recompute)', async (t) => {
  const failing = await p2pWorker(t, 'decode', null, { kvLoadFailurePolicy: 'fail', p2p: { kvPort: 0, proxy: null, kvWaitMs: 150 } });
  const recomputing = await p2pWorker(t, 'decode', null, { kvLoadFailurePolicy: 'recompute', p2p: { kvPort: 0, proxy: null, kvWaitMs: 150 } });
  const n = await promptTokens(failing, PROMPT);

  const id1 = p2pId('127.0.0.1:1', await zmqOf(failing));
  const r1 = await postJson(`${failing.url}/v1/completions`, { model: SIM_MODEL, prompt: PROMPT, max_tokens: 3, stream: true }, { 'x-request-id': id1 });
  // A stream's head went out when the engine took the request; the failure comes as an error event.
  assert.equal(r1.status, 200);
  const events = sseJson<{ error?: VllmErrorBody['error'] }>(await readSse(r1));
  const e = events.at(-1)!.error!;
  assert.equal(e.code, 500);
  assert.equal(e.type, 'InternalServerError');
  const fs = await simState(failing);
  assert.equal(fs.p2p!.failedTransfers, 1);
  // vLLM's P2P-NCCL connector has no failed-transfer metric; NIXL's stays at zero.
  assert.equal(value(await scrape(failing.url), 'vllm:nixl_num_failed_transfers_total', LABELS), 0);
  assert.equal(fs.stats.finished.error, 1);
  assert.equal(fs.stats.generationTokens, 0);
  assert.equal(fs.kv.free, fs.kv.numBlocks);

  const id2 = p2pId('127.0.0.1:1', await zmqOf(recomputing));
  const r2 = await postJson(`${recomputing.url}/v1/completions`, { model: SIM_MODEL, prompt: PROMPT, max_tokens: 3 }, { 'x-request-id': id2 });
  assert.equal(r2.status, 200);
  assert.equal(((await r2.json()) as Completion).usage.completion_tokens, 3);
  const rs = await simState(recomputing);
  assert.equal(rs.p2p!.failedTransfers, 1);
  assert.equal(rs.stats.promptTokensComputed, n, 'the prompt was recomputed');
  assert.equal(rs.stats.remoteKvTokensLoaded, 0);
});

test('pd p2p-nccl - KV from a prefill other than the one named in the id is not used', async (t) => {
  const p = await p2pWorker(t, 'prefill', null);
  const d = await p2pWorker(t, 'decode', null, { p2p: { kvPort: 0, proxy: null, kvWaitMs: 150 } });
  const n = await promptTokens(p, PROMPT);
  // The id names another prefill address; P still pushes its KV to the decode address in it.
  const id = p2pId('127.0.0.1:1', await zmqOf(d));
  const pres = await postJson(`${p.url}/v1/completions`, { model: SIM_MODEL, prompt: PROMPT, max_tokens: 1 }, { 'x-request-id': id });
  assert.equal(pres.status, 200);
  await pres.arrayBuffer();
  await eventually(async () => (await simState(d)).p2p!.kvReceived === 1, 'KV arrived at decode');
  const res = await postJson(`${d.url}/v1/completions`, { model: SIM_MODEL, prompt: PROMPT, max_tokens: 2 }, { 'x-request-id': id });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as Completion).usage.completion_tokens, 2);
  const ds = await simState(d);
  assert.equal(ds.p2p!.failedTransfers, 1);
  assert.equal(ds.stats.remoteKvTokensLoaded, 0);
  assert.equal(ds.stats.promptTokensComputed, n, 'recomputed');
});

test('pd p2p-nccl - a worker restarted after a crash keeps its ZeroMQ address', async (t) => {
  const w = await p2pWorker(t, 'decode', null);
  const before = await zmqOf(w);
  assert.doesNotMatch(before, /:0$/);
  await setFaults(w, { crashForMs: 400 });
  await eventually(() => !w.listening, 'the worker crashed');
  await eventually(async () => {
    try {
      return (await zmqOf(w)) === before && w.listening;
    } catch {
      return false;
    }
  }, 'the worker came back on its old ZeroMQ port');
});
