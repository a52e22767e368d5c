// Clients may not steer KV transfer: `kv_transfer_params` (a `remote_host` of the client's choice
// makes the worker connect there: SSRF from the GPU hosts, KV injection) and `request_id` are
// router-owned, and the ingress removes them from client bodies. Observed where it matters: a
// capturing proxy in front of a simulated worker records the bytes the worker receives, and a
// listener standing in for an attacker's host records whether any worker connected to it.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type OpenAI from 'openai';
import { WorkerAgent } from '../../adapters/agent.ts';
import type { SimWorker } from '../../sim/worker.ts';
import { HEARTBEAT_MS, cleanupScope, startStack, type Stack } from '../helpers/stack.ts';
import { SIM_MODEL, simState, startSimWorker } from '../helpers/sim.ts';
import { find, postJson } from '../helpers/sim-http.ts';

interface Seen {
  readonly path: string;
  readonly body: string;
}

/** An HTTP proxy in front of `target` that records every POST body it forwards. */
async function capturingProxy(scope: ReturnType<typeof cleanupScope>, target: string): Promise<{ url: string; seen: Seen[] }> {
  const t = new URL(target);
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'POST') seen.push({ path: req.url ?? '', body: body.toString('utf8') });
      const up = httpRequest({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  scope.after(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
  const a = server.address();
  return { url: `http://127.0.0.1:${a && typeof a === 'object' ? a.port : 0}`, seen };
}

describe('ingress body fields - clients cannot steer KV transfer', () => {
  let stack: Stack;
  let worker: SimWorker;
  let proxy: { url: string; seen: Seen[] };
  let attacker: { port: number; connections: number };
  let client: OpenAI;
  /** Requests sent with both router-owned fields so far. */
  let steered = 0;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 0 });
    worker = await startSimWorker(scope);
    proxy = await capturingProxy(scope, worker.url);
    const nc = await stack.connect('agent', 'agent-capture');
    const agent = new WorkerAgent(nc, { agentId: 'agent-1', region: 'test', intervalMs: HEARTBEAT_MS, probeTimeoutMs: 500, workers: [{ url: proxy.url, role: 'both', connector: 'nixl' }] }, stack.log);
    await agent.start();
    stack.agents.push(agent);
    await stack.waitForWorkers(1);
    // Where a client would like the worker to pull KV from.
    const tcp = createTcpServer((s) => {
      attacker.connections++;
      s.destroy();
    });
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
    scope.after(() => new Promise<void>((r) => tcp.close(() => r())));
    const a = tcp.address();
    attacker = { port: a && typeof a === 'object' ? a.port : 0, connections: 0 };
    client = stack.client();
  });
  after(() => scope.run());

  const steering = (host: string, port: number) => ({
    kv_transfer_params: {
      do_remote_prefill: true,
      do_remote_decode: false,
      remote_host: host,
      remote_port: port,
      remote_engine_id: 'attacker-engine',
      remote_block_ids: [1, 2, 3],
      remote_request_id: 'attacker',
    },
    request_id: 'chosen-by-the-client',
  });

  const scrapeStripped = async (field: string) => {
    const text = await (await fetch(stack.ingresses[0]!.metricsUrl)).text();
    return find(text, 'llm_router_stripped_fields_total', { field }).reduce((n, s) => n + s.value, 0);
  };

  const lastSeen = (): Record<string, unknown> => {
    const s = proxy.seen.at(-1);
    assert.ok(s, 'the worker received the request');
    assert.match(s.path, /^\/v1\/(chat\/)?completions$/);
    return JSON.parse(s.body) as Record<string, unknown>;
  };

  for (const route of ['chat', 'completions'] as const) {
    for (const stream of [false, true]) {
      test(`ingress body fields - ${route}, ${stream ? 'streamed' : 'JSON'}: the worker never sees kv_transfer_params or request_id, and the answer is normal`, async () => {
        const extra = steering('127.0.0.1', attacker.port);
        const text = `steer ${route} ${stream}`;
        let tokens = 0;
        if (route === 'chat') {
          const params = { model: SIM_MODEL, messages: [{ role: 'user' as const, content: text }], max_tokens: 4, ...extra };
          if (stream) {
            for await (const c of await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } })) tokens = c.usage?.completion_tokens ?? tokens;
          } else {
            tokens = (await client.chat.completions.create(params)).usage!.completion_tokens;
          }
        } else {
          const params = { model: SIM_MODEL, prompt: text, max_tokens: 4, ...extra };
          if (stream) {
            for await (const c of await client.completions.create({ ...params, stream: true, stream_options: { include_usage: true } })) tokens = c.usage?.completion_tokens ?? tokens;
          } else {
            tokens = (await client.completions.create(params)).usage!.completion_tokens;
          }
        }
        assert.equal(tokens, 4);
        const got = lastSeen();
        assert.equal('kv_transfer_params' in got, false, 'kv_transfer_params reached the worker');
        assert.equal('request_id' in got, false, 'request_id reached the worker');
        assert.equal(got.model, SIM_MODEL);
        assert.equal(got.max_tokens, 4);
        assert.equal(attacker.connections, 0, 'the worker connected to the host the client named');
        steered++;
        assert.equal(await scrapeStripped('kv_transfer_params'), steered, 'counted');
        assert.equal(await scrapeStripped('request_id'), steered, 'counted');
      });
    }
  }

  test("ingress body fields - a remote_host on the public internet (the issue's example) is not passed on either", async () => {
    const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'far away', max_tokens: 2, ...steering('203.0.113.9', 1234) });
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens, 2);
    assert.equal('kv_transfer_params' in lastSeen(), false);
    steered++;
    const s = await simState(worker);
    assert.equal(s.stats.remoteKvLoadFailures, 0, 'the worker never tried to load KV from elsewhere');
    assert.equal(s.stats.remoteKvTokensLoaded, 0);
  });

  test('ingress body fields - a body without router-owned fields reaches the worker byte for byte', async () => {
    const sent = '{ "model" : "sim-model",\n  "prompt":"bytes as sent \\u00e9",   "max_tokens": 2, "seed": 12345678901234567890 }';
    const r = await postJson(`${stack.url()}/v1/completions`, sent);
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    assert.equal(proxy.seen.at(-1)!.body, sent);
  });
});
