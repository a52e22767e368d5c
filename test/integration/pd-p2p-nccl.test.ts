// P2P-NCCL disaggregation end to end: simulated vLLM instances register over ZeroMQ with the
// router's discovery bridge, which heartbeats for them; the scheduler names both peers in the
// request id; the decode worker takes the KV from the prefill worker named there.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encode } from '@msgpack/msgpack';
import pino from 'pino';
import { Dealer } from 'zeromq';
import { WorkerAgent } from '../../adapters/agent.ts';
import { ZmqDiscovery } from '../../adapters/discover-zmq.ts';
import type { SimWorker } from '../../sim/worker.ts';
import { SIM_MODEL, eventually, simState, startSimWorker } from '../helpers/sim.ts';
import { postJson } from '../helpers/sim-http.ts';
import { cleanupScope, HEARTBEAT_MS, startStack, type Stack } from '../helpers/stack.ts';

let prompts = 0;
function long(): string {
  const n = prompts++;
  return Array.from({ length: 120 }, (_, i) => `P2P prompt ${n}, paragraph ${i}, about KV transfer.`).join(' ');
}

// vLLM's proxy keeps an instance 5 s after its last registration, and instances register every
// 3 s (REGISTRATION_INTERVAL_MS): a TTL below the interval would drop live instances between beats.
const DISCOVERY_TTL_MS = 5000;

/** The discovery bridge as `llm-router discover-zmq` runs it: a ROUTER and an agent (agent-zmq) heartbeating for what registers. */
async function discoveryBridge(scope: ReturnType<typeof cleanupScope>, stack: Stack): Promise<ZmqDiscovery> {
  const nc = await stack.connect('agent-zmq', 'discover-zmq');
  const agent = new WorkerAgent(nc, { agentId: 'agent-zmq', region: 'test', intervalMs: HEARTBEAT_MS, probeTimeoutMs: 500, workers: [] }, pino({ level: 'silent' }));
  await agent.start();
  scope.after(() => agent.stop());
  const discovery = new ZmqDiscovery({ bind: 'tcp://127.0.0.1:*', ttlMs: DISCOVERY_TTL_MS }, agent, pino({ level: 'silent' }));
  await discovery.start();
  scope.after(() => discovery.stop());
  return discovery;
}

describe('pd p2p-nccl - ZeroMQ discovery and request-id routing', () => {
  let stack: Stack;
  let discovery: ZmqDiscovery;
  const prefill: SimWorker[] = [];
  const decode: SimWorker[] = [];
  const scope = cleanupScope();

  before(async () => {
    stack = await startStack(scope, { workers: 0 });
    discovery = await discoveryBridge(scope, stack);
    const p2p = { kvPort: 0, proxy: discovery.endpoint, kvWaitMs: 2000 };
    for (let i = 0; i < 2; i++) prefill.push(await startSimWorker(scope, { role: 'prefill', kvConnector: 'p2p-nccl', p2p }));
    for (let i = 0; i < 2; i++) decode.push(await startSimWorker(scope, { role: 'decode', kvConnector: 'p2p-nccl', p2p }));
    await eventually(
      () => stack.schedulers[0]!.registry.candidates(SIM_MODEL, 'prefill').length === 2 && stack.schedulers[0]!.registry.candidates(SIM_MODEL, 'decode').length === 2,
      'the scheduler sees the registered instances',
    );
  });
  after(() => scope.run());

  test('pd p2p-nccl - registrations become workers with their role and ZeroMQ address', () => {
    const views = stack.schedulers[0]!.registry.all();
    for (const w of [...prefill, ...decode]) {
      const v = views.find((x) => x.url === w.url)!;
      assert.equal(v.connector.kind, 'p2p-nccl');
      assert.equal(v.connector.zmqAddress, w.p2p!.zmqAddress);
      assert.equal(v.role, w.options.role);
    }
  });

  test('pd p2p-nccl - a long prompt is prefilled on one instance and decoded on another without prefill compute', async () => {
    const before = await Promise.all(decode.map(simState));
    const res = await postJson(`${stack.url()}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: long() }], max_tokens: 5, stream: true });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /data: \[DONE\]/);
    assert.match(res.headers.get('x-router-worker') ?? '', /,/);
    const after = await Promise.all(decode.map(simState));
    const computed = after.reduce((n, s, i) => n + s.stats.promptTokensComputed - before[i]!.stats.promptTokensComputed, 0);
    const received = after.reduce((n, s, i) => n + s.p2p!.kvReceived - before[i]!.p2p!.kvReceived, 0);
    assert.equal(computed, 0, 'the decode instance computed no prompt tokens');
    assert.equal(received, 1, 'it received the KV from the prefill instance');
  });

  test('pd p2p-nccl - both legs carry the request id naming the two peers', async () => {
    // The simulated decode instance fails a request whose id does not name a prefill peer, so a
    // 200 here means the id had the exact ___prefill_addr_…___decode_addr_… form.
    for (let i = 0; i < 4; i++) {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: long(), max_tokens: 3 });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    const s = await Promise.all(prefill.map(simState));
    assert.ok(s.reduce((n, x) => n + x.p2p!.kvSent, 0) >= 4);
  });

  // A P2P-NCCL decode instance (kv_consumer) refuses any request id that does not name a prefill
  // peer, so it can never serve a prompt whole: short prompts, which the decider would serve on
  // the decode worker under NIXL, must be disaggregated too.
  for (const route of ['chat', 'completions'] as const) {
    for (const stream of [false, true]) {
      test(`pd p2p-nccl - a short ${route} prompt (${stream ? 'streamed' : 'not streamed'}) is disaggregated, never sent whole to a consumer`, async () => {
        const body = route === 'chat' ? { model: SIM_MODEL, messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 3, stream } : { model: SIM_MODEL, prompt: 'Hi!', max_tokens: 3, stream };
        const before = (await Promise.all(prefill.map(simState))).reduce((n, s) => n + s.p2p!.kvSent, 0);
        const res = await postJson(`${stack.url()}/v1/${route === 'chat' ? 'chat/completions' : 'completions'}`, body);
        const text = await res.text();
        assert.equal(res.status, 200, text);
        if (stream) assert.match(text, /data: \[DONE\]/);
        assert.match(res.headers.get('x-router-worker') ?? '', /,/, 'a prefill,decode pair answered');
        const after = (await Promise.all(prefill.map(simState))).reduce((n, s) => n + s.p2p!.kvSent, 0);
        assert.equal(after, before + 1, 'the KV went from a prefill instance to the decode instance');
      });
    }
  }

  test('pd p2p-nccl - an instance that stops registering is dropped', async () => {
    // A fake instance registers once and goes quiet.
    const dealer = new Dealer({ routingId: '127.0.0.1:1', linger: 0 });
    dealer.connect(discovery.endpoint);
    await dealer.send(encode({ type: 'D', http_address: '127.0.0.1:1', zmq_address: '127.0.0.1:1' }));
    await eventually(() => discovery.registry.get('127.0.0.1:1') !== undefined, 'registered');
    dealer.close();
    await eventually(() => discovery.registry.get('127.0.0.1:1') === undefined, 'expired after the TTL', DISCOVERY_TTL_MS + 2000);
  });

  test('pd p2p-nccl - malformed registrations are rejected, never trusted', async () => {
    const before = discovery.rejected;
    const dealer = new Dealer({ linger: 0 });
    dealer.connect(discovery.endpoint);
    await dealer.send(Buffer.from('not msgpack at all \xff'));
    await dealer.send(encode({ type: 'X', http_address: 'a:1', zmq_address: 'b:2' }));
    await dealer.send(encode({ type: 'P', http_address: 'no port', zmq_address: 'b:2' }));
    await eventually(() => discovery.rejected === before + 3, 'three registrations rejected');
    dealer.close();
  });
});

describe('pd p2p-nccl - a fleet with no prefill instance', () => {
  const scope = cleanupScope();
  let stack: Stack;
  before(async () => {
    stack = await startStack(scope, { workers: 0 });
    const discovery = await discoveryBridge(scope, stack);
    await startSimWorker(scope, { role: 'decode', kvConnector: 'p2p-nccl', p2p: { kvPort: 0, proxy: discovery.endpoint, kvWaitMs: 2000 } });
    await eventually(() => stack.schedulers[0]!.registry.candidates(SIM_MODEL, 'decode').length === 1, 'the decode instance registered');
  });
  after(() => scope.run());

  test('pd p2p-nccl - a decode-only fleet answers 503 no worker (it cannot compute prompts), never a 500', async () => {
    const res = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'Hi!', max_tokens: 3 });
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_NO_WORKER');
  });
});
