// scheduler/upstream.ts over real sockets: a node:http server plays the worker, so that every way
// a body can arrive, stop or be refused goes through undici's dispatch callbacks for real.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SCHEDULER_DEFAULTS } from '../../scheduler/options.ts';
import { callWorker, createAgent, type ClassifiedError, type UpstreamOptions } from '../../scheduler/upstream.ts';
import type { RequestMeta } from '../../proto/request-meta.ts';

const OPTIONS: UpstreamOptions = { ...SCHEDULER_DEFAULTS.upstream, connectTimeoutMs: 2000, headersTimeoutMs: 2000, bodyTimeoutMs: 2000, workerApiKey: null };
const META = { requestId: 'req-1', route: 'completions', stream: true, routingKey: null, deadline: null, region: null, traceparent: null } as unknown as RequestMeta;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What the fake worker does, chosen by the request id. */
const behaviours: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  async chunks(_req, res) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let i = 0; i < 5; i++) {
      res.write(`data: ${i}\n\n`);
      await sleep(5);
    }
    res.end('data: [DONE]\n\n');
  },
  whole(_req, res) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  },
  async endless(_req, res) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    while (!res.destroyed) {
      res.write(`data: ${'x'.repeat(1000)}\n\n`);
      await sleep(2);
    }
  },
  async dies(_req, res) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: 0\n\n');
    await sleep(20);
    res.socket?.destroy();
  },
  async 'head-then-dies'(_req, res) {
    // vLLM sends a stream's head at once; this one dies while it would be prefilling.
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    await sleep(20);
    res.socket?.destroy();
  },
  async 'head-then-first'(_req, res) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    await sleep(20);
    res.end('data: first\n\ndata: [DONE]\n\n');
  },
  async unavailable(_req, res) {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'x'.repeat(300_000) } }));
  },
};

describe('upstream calls through undici dispatch', () => {
  let base = '';
  const agent = createAgent(OPTIONS);
  const closed: string[] = [];
  const server = createServer((req, res) => {
    res.on('close', () => closed.push(String(req.headers['x-request-id'])));
    req.resume();
    req.on('end', () => void behaviours[String(req.headers['x-request-id'])]!(req, res));
  });
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await agent.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const call = (id: string, signal = new AbortController().signal) => callWorker(agent, OPTIONS, { url: base, meta: META, body: Buffer.from('{}'), signal, requestIdHeader: id });

  test('a stream arrives whole and in order, chunks that came before the consumer included', async () => {
    const res = await call('chunks');
    assert.equal(res.status, 200);
    assert.equal(res.contentType, 'text/event-stream');
    await sleep(30); // let some chunks arrive with nobody reading yet
    const parts: string[] = [];
    await res.body.consume((c) => parts.push(c.toString()));
    assert.equal(parts.join(''), 'data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\ndata: [DONE]\n\n');
  });

  test('a small answer that ended before anyone read it is still delivered', async () => {
    const res = await call('whole');
    await sleep(20);
    const parts: string[] = [];
    await res.body.consume((c) => parts.push(c.toString()));
    assert.equal(parts.join(''), '{"ok":true}');
  });

  test('aborting the signal mid-body stops the body as an abort and closes the worker connection', async () => {
    const ac = new AbortController();
    const res = await call('endless', ac.signal);
    let n = 0;
    const reading = res.body.consume(() => {
      if (++n === 3) ac.abort();
    });
    const err = (await reading.then(
      () => assert.fail('the body should not end normally'),
      (e: unknown) => e,
    )) as Error;
    assert.equal(err.name, 'AbortError');
    await sleep(50);
    assert.ok(closed.includes('endless'), 'the worker saw its connection close');
  });

  test('a signal aborted before the call refuses it at once, marked as an abort', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = (await call('whole', ac.signal).catch((e: unknown) => e)) as ClassifiedError;
    assert.equal(err.aborted, true);
    assert.equal(err.retryable, false);
  });

  test('a worker that dies mid-body fails the body (not an abort)', async () => {
    const res = await call('dies');
    const parts: string[] = [];
    const err = (await res.body.consume((c) => parts.push(c.toString())).catch((e: unknown) => e)) as Error;
    assert.ok(err instanceof Error);
    assert.notEqual(err.name, 'AbortError');
    assert.equal(parts.join(''), 'data: 0\n\n');
  });

  test('a consumer that throws stops the body with its own error', async () => {
    const res = await call('endless');
    const refused = new Error('too much');
    const err = await res.body
      .consume(() => {
        throw refused;
      })
      .catch((e: unknown) => e);
    assert.equal(err, refused);
  });

  test('dump discards a long error body without reading all of it, and a second reader is refused', async () => {
    const res = await call('unavailable');
    assert.equal(res.status, 503);
    await res.body.dump();
    await assert.rejects(
      res.body.consume(() => undefined),
      /already being read/,
    );
  });

  test('whenFirstByte: a head with no bytes yet has not begun; it settles at the first bytes, and fails if the worker dies first', async () => {
    const ok = await call('head-then-first');
    assert.equal(ok.status, 200);
    await ok.body.whenFirstByte();
    const got: string[] = [];
    await ok.body.consume((c) => void got.push(c.toString()));
    assert.equal(got.join(''), 'data: first\n\ndata: [DONE]\n\n', 'the early bytes are kept for the consumer');
    const dead = await call('head-then-dies');
    assert.equal(dead.status, 200);
    await assert.rejects(dead.body.whenFirstByte());
  });

  test('a worker that is not there is a retryable connection error that does not name its address', async () => {
    const err = (await callWorker(agent, OPTIONS, { url: 'http://127.0.0.1:1', meta: META, body: Buffer.from('{}'), signal: new AbortController().signal, requestIdHeader: 'r1' }).catch(
      (e: unknown) => e,
    )) as ClassifiedError;
    assert.equal(err.code, 'LLMR_ERR_UPSTREAM_UNREACHABLE');
    assert.equal(err.retryable, true);
    // The message reaches the client: what failed, never where.
    assert.doesNotMatch(err.message, /127\.0\.0\.1|:1\b/);
  });
});
