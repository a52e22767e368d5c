// Every error the request path answers by itself, over real sockets: each with its status,
// its OpenAI-shaped body and its LLMR_ERR_* code.
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SIM_MODEL, eventually, setFaults } from '../helpers/sim.ts';
import { postJson } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function expectError(res: Response, status: number, code: string, param?: string | null): Promise<OpenAiErrorBody> {
  assert.equal(res.status, status, `status of ${code}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as OpenAiErrorBody;
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  assert.equal(typeof body.error.type, 'string');
  if (param !== undefined) assert.equal(body.error.param, param);
  return body;
}

describe('router errors - answered by the ingress and scheduler', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 1, ingress: { bodyLimit: 64 * 1024 } });
  });
  after(() => scope.run());

  const chat = (body: unknown, headers: Record<string, string> = {}) => postJson(`${stack.url()}/v1/chat/completions`, body, headers);

  test('router errors - invalid JSON is 400', async () => {
    await expectError(await chat('{"model": "x", '), 400, 'LLMR_ERR_INVALID_JSON');
  });

  test('router errors - a body that is not an object is 400', async () => {
    await expectError(await chat('[1,2,3]'), 400, 'LLMR_ERR_INVALID_REQUEST', 'body');
  });

  test('router errors - missing model is 400 naming the param', async () => {
    await expectError(await chat({ messages: [{ role: 'user', content: 'hi' }] }), 400, 'LLMR_ERR_MISSING_MODEL', 'model');
  });

  test('router errors - wrong types are 400 naming the param', async () => {
    await expectError(await chat({ model: 42, messages: [] }), 400, 'LLMR_ERR_INVALID_REQUEST', 'model');
    await expectError(await chat({ model: SIM_MODEL, messages: 'hi' }), 400, 'LLMR_ERR_INVALID_REQUEST', 'messages');
    await expectError(await chat({ model: SIM_MODEL, messages: [], stream: 'yes' }), 400, 'LLMR_ERR_INVALID_REQUEST', 'stream');
    await expectError(await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL }), 400, 'LLMR_ERR_INVALID_REQUEST', 'prompt');
  });

  test('router errors - invalid UTF-8 is 400', async () => {
    const bytes = Buffer.concat([Buffer.from('{"model":"'), Buffer.from([0xc3, 0x28]), Buffer.from('","prompt":"x"}')]);
    const res = await fetch(`${stack.url()}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes });
    await expectError(res, 400, 'LLMR_ERR_INVALID_UTF8');
  });

  test('router errors - unknown model is 404', async () => {
    const body = await expectError(await chat({ model: 'nope/never', messages: [{ role: 'user', content: 'hi' }] }), 404, 'LLMR_ERR_MODEL_NOT_FOUND', 'model');
    assert.match(body.error.message, /nope\/never/);
  });

  test('router errors - a body over the limit is 413', async () => {
    const big = 'x'.repeat(80 * 1024);
    await expectError(await chat({ model: SIM_MODEL, messages: [{ role: 'user', content: big }] }), 413, 'LLMR_ERR_BODY_TOO_LARGE');
  });

  test('router errors - a wrong content type is 415', async () => {
    const res = await fetch(`${stack.url()}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    await expectError(res, 415, 'LLMR_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  test('router errors - unknown routes are 404, wrong methods 405', async () => {
    await expectError(await fetch(`${stack.url()}/v1/nothing`), 404, 'LLMR_ERR_ROUTE_NOT_FOUND');
    const res = await fetch(`${stack.url()}/v1/chat/completions`);
    assert.equal(res.headers.get('allow'), 'POST');
    await expectError(res, 405, 'LLMR_ERR_METHOD_NOT_ALLOWED');
  });

  test("router errors - X-Request-Id is echoed, or made; workers see the router's own id, never the client's", async () => {
    const res = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'hi', max_tokens: 2 }, { 'x-request-id': 'my-id-123' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'my-id-123');
    const body = (await res.json()) as { id: string };
    // vLLM names the request after the X-Request-Id it got: an internal ulid, not the client's.
    assert.match(body.id, /^cmpl-[0-9A-Z]{26}/);
    assert.doesNotMatch(body.id, /my-id-123/);
    const made = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'hi', max_tokens: 2 });
    assert.match(made.headers.get('x-request-id') ?? '', /^[0-9A-Z]{26}$/);
    await made.arrayBuffer();
  });

  test('router errors - a malformed X-Request-Id is 400', async () => {
    const res = await new Promise<string>((resolve, reject) => {
      // fetch refuses control characters in headers, so speak HTTP by hand.
      const s = tcpConnect(Number(new URL(stack.url()).port), '127.0.0.1', () => {
        s.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${'a'.repeat(300)}\r\nConnection: close\r\n\r\n`);
      });
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    assert.match(res, /^HTTP\/1.1 400/);
    assert.match(res, /LLMR_ERR_INVALID_REQUEST_ID/);
  });

  test('router errors - no worker for a known model is 503 with Retry-After', async () => {
    const w = stack.workers[0]!;
    await setFaults(w, { dead: true });
    await eventually(() => stack.schedulers[0]!.registry.candidates(SIM_MODEL, 'whole').length === 0, 'the dead worker leaves the pool');
    const res = await chat({ model: SIM_MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.headers.get('retry-after'), '1');
    await expectError(res, 503, 'LLMR_ERR_NO_WORKER');
    const ready = await fetch(`${stack.url()}/readiness`);
    assert.equal(ready.status, 503);
    await ready.arrayBuffer();
    await setFaults(w, { reset: true });
    await stack.waitForWorkers(1);
    assert.equal((await fetch(`${stack.url()}/readiness`)).status, 200);
  });
});

describe('router errors - no scheduler', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 1 });
    await stack.schedulers[0]!.stop(0);
  });
  after(() => scope.run());

  test('router errors - no scheduler is 503 at once', async () => {
    const res = await postJson(`${stack.url()}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: 'hi' }] });
    await expectError(res, 503, 'LLMR_ERR_NO_SCHEDULER');
    const models = await fetch(`${stack.url()}/v1/models`);
    await expectError(models, 503, 'LLMR_ERR_NO_SCHEDULER');
    const ready = await fetch(`${stack.url()}/readiness`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { reason: string }).reason, 'no scheduler answers');
    assert.equal((await fetch(`${stack.url()}/health`)).status, 200, 'liveness does not depend on the fleet');
  });
});
