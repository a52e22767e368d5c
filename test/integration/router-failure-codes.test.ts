// The failure codes no other suite brings about, each caused through the real stack: a stream
// gone silent (LLMR_ERR_STREAM_IDLE), a request past its deadline (LLMR_ERR_DEADLINE), a worker
// that never answers (LLMR_ERR_UPSTREAM_TIMEOUT), a prefill worker whose answer is not JSON
// (LLMR_ERR_UPSTREAM_PROTOCOL), a client that reads too slowly (LLMR_ERR_SLOW_CLIENT) and one
// that leaves mid-stream (LLMR_ERR_CLIENT_CLOSED). The timeouts are short so that the tests are
// quick; the assertions are on the codes, never on how long anything took.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect as unixConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WorkerAgent } from '../../adapters/agent.ts';
import type { Ingress } from '../../ingress/server.ts';
import { SCHEDULER_DEFAULTS } from '../../scheduler/options.ts';
import { SIM_MODEL, eventually, setFaults, simState, startSimWorker } from '../helpers/sim.ts';
import { find, postJson } from '../helpers/sim-http.ts';
import { cleanupScope, HEARTBEAT_MS, PROBE_TIMEOUT_MS, startStack, type Stack } from '../helpers/stack.ts';

interface ErrorBody {
  error: { code: string; type: string; message: string };
}

/** How many times the ingress counted `code` in llm_router_errors_total. */
async function counted(ingress: Ingress, code: string): Promise<number> {
  const text = await (await fetch(ingress.metricsUrl)).text();
  return find(text, 'llm_router_errors_total', { code }).reduce((n, s) => n + s.value, 0);
}

async function errorOf(r: Response): Promise<ErrorBody['error']> {
  return ((await r.json()) as ErrorBody).error;
}

describe('router failure codes - timeouts and clients', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    // One worker; a scheduler that gives a worker 1.5 s for its first bytes and tries twice.
    stack = await startStack(scope, { workers: 1, schedulers: 0, retry: { maxAttempts: 2 } });
    await stack.addScheduler({ upstream: { ...SCHEDULER_DEFAULTS.upstream, connectTimeoutMs: 1000, headersTimeoutMs: 1500, bodyTimeoutMs: 30_000, workerApiKey: null } });
    await stack.waitForWorkers(1);
  });
  after(() => scope.run());

  /** Runs `fn` against an ingress of its own with `overrides`, and removes it after. */
  async function withIngress<T>(overrides: Parameters<Stack['addIngress']>[0], fn: (ingress: Ingress) => Promise<T>): Promise<T> {
    const ingress = await stack.addIngress(overrides);
    try {
      return await fn(ingress);
    } finally {
      await stack.removeIngress(ingress);
    }
  }

  /** With the worker accepting requests and never answering. */
  async function hanging<T>(fn: () => Promise<T>): Promise<T> {
    const w = stack.workers[0]!;
    await setFaults(w, { hang: true });
    try {
      return await fn();
    } finally {
      await setFaults(w, { reset: true });
      await eventually(async () => (await simState(w)).openRequests === 0, "the worker's hung requests are closed");
    }
  }

  test('router failure codes - an accepted stream that goes silent past the idle timeout is 504 LLMR_ERR_STREAM_IDLE', async () => {
    await hanging(() =>
      withIngress({ idleTimeoutMs: 400 }, async (ingress) => {
        const r = await postJson(`${ingress.url}/v1/completions`, { model: SIM_MODEL, prompt: 'silence', max_tokens: 3 });
        assert.equal(r.status, 504);
        const e = await errorOf(r);
        assert.equal(e.code, 'LLMR_ERR_STREAM_IDLE');
        assert.equal(e.type, 'timeout_error');
        // The cancel reached the scheduler, which let go of the worker.
        await eventually(async () => (await simState(stack.workers[0]!)).openRequests === 0, 'the worker call is aborted');
      }),
    );
  });

  test('router failure codes - a request past its deadline is 504 LLMR_ERR_DEADLINE', async () => {
    await hanging(() =>
      withIngress({ requestTimeoutMs: 700 }, async (ingress) => {
        const r = await postJson(`${ingress.url}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: 'late' }], max_tokens: 3, stream: true });
        assert.equal(r.status, 504);
        const e = await errorOf(r);
        assert.equal(e.code, 'LLMR_ERR_DEADLINE');
        assert.equal(e.type, 'timeout_error');
      }),
    );
  });

  test('router failure codes - a worker that never answers, on every attempt, is 504 LLMR_ERR_UPSTREAM_TIMEOUT', async () => {
    await hanging(async () => {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'nobody home', max_tokens: 3 });
      assert.equal(r.status, 504);
      const e = await errorOf(r);
      assert.equal(e.code, 'LLMR_ERR_UPSTREAM_TIMEOUT');
      assert.doesNotMatch(e.message, /127\.0\.0\.1|localhost/, "the worker's address stays the operator's business");
    });
  });

  test('router failure codes - a client that leaves mid-stream is counted as LLMR_ERR_CLIENT_CLOSED', async () => {
    const ingress = stack.ingresses[0]!;
    const before = await counted(ingress, 'LLMR_ERR_CLIENT_CLOSED');
    const ac = new AbortController();
    const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'A long story', max_tokens: 3000, ignore_eos: true, stream: true }, {}, { signal: ac.signal });
    assert.equal(r.status, 200);
    await r.body!.getReader().read();
    ac.abort();
    await eventually(async () => (await counted(ingress, 'LLMR_ERR_CLIENT_CLOSED')) === before + 1, 'the ingress counts LLMR_ERR_CLIENT_CLOSED');
    await eventually(() => ingress.streams.openStreams === 0, 'the stream is forgotten');
  });

  test('router failure codes - a client that leaves more than the bound unread is cut off and counted as LLMR_ERR_SLOW_CLIENT', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmr-sock-'));
    try {
      // A Unix socket keeps kernel buffers small, so the ingress's own buffering shows quickly.
      await withIngress({ socketPath: join(dir, 'ingress.sock'), maxBufferedBytes: 16 * 1024 }, async (ingress) => {
        const body = JSON.stringify({ model: SIM_MODEL, prompt: 'Tell me everything', max_tokens: 3500, ignore_eos: true, stream: true });
        const socket = unixConnect(join(dir, 'ingress.sock'));
        socket.on('error', () => undefined);
        socket.pause(); // never reads
        const closed = new Promise<void>((r) => socket.once('close', () => r()));
        socket.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        await eventually(async () => (await counted(ingress, 'LLMR_ERR_SLOW_CLIENT')) === 1, 'the ingress counts LLMR_ERR_SLOW_CLIENT', 15_000);
        socket.resume(); // what the kernel held, then the end: the ingress cut the connection
        await closed;
        assert.equal(ingress.streams.openStreams, 0);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('router failure codes - a worker that breaks the protocol', () => {
  let stack: Stack;
  let fake: Server;
  const scope = cleanupScope();
  before(async () => {
    // No retries: the one prefill leg's failure is the answer.
    stack = await startStack(scope, { workers: 0, retry: { maxAttempts: 1 } });
    await stack.addWorker({ role: 'decode' });
    // A prefill worker that is healthy and loaded as a simulator says, but answers generation
    // requests with a body that is not JSON.
    const sim = await startSimWorker(scope, { role: 'prefill' });
    fake = createServer((req, res) => {
      if (req.method === 'POST') {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('this is not JSON');
        return;
      }
      void fetch(`${sim.url}${req.url}`).then(async (r) => {
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' });
        res.end(Buffer.from(await r.arrayBuffer()));
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    scope.after(
      () =>
        new Promise((r) => {
          fake.closeAllConnections();
          fake.close(r);
        }),
    );
    const agent = new WorkerAgent(
      await stack.connect('agent-1', 'agent-fake'),
      {
        agentId: 'agent-1',
        region: 'test',
        intervalMs: HEARTBEAT_MS,
        probeTimeoutMs: PROBE_TIMEOUT_MS,
        workers: [{ url: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`, role: 'prefill', connector: 'nixl' }],
      },
      stack.log,
    );
    await agent.start();
    scope.after(() => agent.stop());
    await eventually(
      () => stack.schedulers.every((s) => s.registry.candidates(SIM_MODEL, 'prefill').length === 1 && s.registry.candidates(SIM_MODEL, 'decode').length === 1),
      'schedulers see the prefill and the decode worker',
    );
  });
  after(() => scope.run());

  test('router failure codes - a prefill answer that is not JSON is 502 LLMR_ERR_UPSTREAM_PROTOCOL', async () => {
    // Long enough for the decider to disaggregate it.
    const prompt = Array.from({ length: 120 }, (_, i) => `Paragraph ${i}, about routers and caches.`).join(' ');
    const r = await postJson(`${stack.url()}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 4 });
    assert.equal(r.status, 502);
    const e = await errorOf(r);
    assert.equal(e.code, 'LLMR_ERR_UPSTREAM_PROTOCOL');
    assert.match(e.message, /prefill worker sent a body that is not JSON/);
  });
});
