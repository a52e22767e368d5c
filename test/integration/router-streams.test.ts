// Streams that end early on the client's side: a client that disconnects mid-stream, and one
// that reads too slowly. Either way the worker must end up aborting the sequence and freeing its
// KV blocks, and the ingress must not buffer without bound.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from 'undici';
import { SIM_MODEL, eventually, simState } from '../helpers/sim.ts';
import { postJson } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

describe('router streams - clients that go away', () => {
  let stack: Stack;
  let socketDir: string;
  const scope = cleanupScope();
  before(async () => {
    socketDir = await mkdtemp(join(tmpdir(), 'llmr-sock-'));
    scope.after(() => rm(socketDir, { recursive: true, force: true }));
    stack = await startStack(scope, { workers: 1 });
  });
  after(() => scope.run());

  test('router streams - a client that disconnects mid-stream aborts the worker sequence', async () => {
    const w = stack.workers[0]!;
    const before = (await simState(w)).stats.finished.abort;
    const ac = new AbortController();
    const res = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'A long story', max_tokens: 3000, ignore_eos: true, stream: true }, {}, { signal: ac.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    ac.abort();
    await eventually(async () => (await simState(w)).stats.finished.abort === before + 1, 'the simulator counts the abort');
    const s = await simState(w);
    assert.equal(s.running, 0);
    await eventually(async () => (await simState(w)).kv.free === s.kv.numBlocks, 'its KV blocks are free again');
    assert.equal(stack.ingresses[0]!.streams.openStreams, 0);
  });

  test('router streams - a client that reads too slowly is cut off and its request cancelled', async () => {
    const path = join(socketDir, 'ingress.sock');
    // A Unix socket keeps kernel buffers small, so the ingress's own buffering shows quickly.
    const ingress = await stack.addIngress({ socketPath: path, maxBufferedBytes: 16 * 1024 });
    const w = stack.workers[0]!;
    const before = (await simState(w)).stats.finished.abort;
    const client = new Client('http://localhost', { socketPath: path });
    scope.after(() => client.destroy());
    const res = await client.request({
      path: '/v1/completions',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: SIM_MODEL, prompt: 'Tell me everything', max_tokens: 3500, ignore_eos: true, stream: true }),
    });
    assert.equal(res.statusCode, 200);
    // Never read the body: the worker keeps producing, the ingress must give up.
    await eventually(async () => (await simState(w)).stats.finished.abort === before + 1, 'the worker sequence is aborted', 15_000);
    assert.equal(ingress.streams.openStreams, 0);
    await res.body.dump().catch(() => undefined);
  });
});
