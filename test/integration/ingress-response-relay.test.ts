// The ingress's response relay over a real HTTP server, driven by synthetic stream-protocol
// frames: a JSON answer held until its end, an SSE head at its head frame, errors before the head
// as error replies and after it as SSE error events, clients that leave or read too slowly, and
// resubmission of a request whose scheduler failed before answering (and never after).
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect as tcpConnect, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ResponseRelay, type RelayDeps } from '../../ingress/response-relay.ts';
import type { ResubmitClock } from '../../ingress/resubmit-policy.ts';
import { noSchedulerSubscribed, type StreamHandlers } from '../../ingress/stream-client.ts';
import { errors, type RouterError } from '../../proto/errors.ts';
import { openAiError } from '../../proto/openai-error.ts';
import type { Frame } from '../../proto/stream.ts';
import { eventually } from '../helpers/sim.ts';
import { readSse } from '../helpers/sim-http.ts';

const enc = new TextEncoder();

/** One request as the relay handled it. */
interface Call {
  readonly res: ServerResponse;
  /** Submissions, in order: the test plays the scheduler through their handlers. */
  readonly sent: { readonly id: string; readonly handlers: StreamHandlers }[];
  readonly cancelled: string[];
  /** Codes given to metrics.error. */
  readonly counted: string[];
  hijacked: number;
  /** What run() resolved with. */
  outcome: Promise<RouterError | null>;
}

/** What the next request's relay is made with. */
interface Setup {
  stream: boolean;
  maxBufferedBytes: number;
  acceptTimeoutMs: number;
  bus: RelayDeps['bus'];
  clock?: ResubmitClock;
}

const DEFAULTS: Setup = { stream: true, maxBufferedBytes: 1024 * 1024, acceptTimeoutMs: 1000, bus: { up: true, whenUp: async () => true } };

/** Synthetic frames (sequence numbers are StreamClient's business: the relay never sees a bad one). */
const F = {
  accepted: (): Frame => ({ kind: 'accepted', seq: 0, scheduler: 'sched-t' }),
  head: (contentType: string, status = 200): Frame => ({ kind: 'head', seq: 1, status, contentType, worker: 'w-1' }),
  data: (text: string | Uint8Array): Frame => ({ kind: 'data', seq: 2, data: typeof text === 'string' ? enc.encode(text) : text }),
  end: (error?: RouterError): Frame => ({ kind: 'end', seq: 3, ...(error ? { error } : {}) }),
  error: (error: RouterError): Frame => ({ kind: 'error', seq: 1, error }),
};

/** Plays a whole answer on a submission. */
function answer(h: StreamHandlers, contentType: string, ...chunks: string[]): void {
  h.frame(F.accepted());
  h.frame(F.head(contentType));
  for (const c of chunks) h.frame(F.data(c));
  h.frame(F.end());
}

describe('ingress response relay', () => {
  let server: Server;
  let base: string;
  let setup: Setup = DEFAULTS;
  const calls: Call[] = [];
  const log = pino({ level: 'silent' });

  before(async () => {
    server = createServer((req, res) => {
      const s = setup;
      const call: Call = { res, sent: [], cancelled: [], counted: [], hijacked: 0, outcome: Promise.resolve(null) };
      const relay = new ResponseRelay(
        res,
        { requestId: 'req-1', stream: s.stream, route: '/v1/completions', model: 'm', startedAt: performance.now(), deadline: Date.now() + 60_000 },
        {
          submit: (id, handlers) => void call.sent.push({ id, handlers }),
          cancel: (id) => void call.cancelled.push(id),
          hijack: () => void call.hijacked++,
          bus: s.bus,
          metrics: { error: (code) => void call.counted.push(code), firstByte: () => undefined, chunkGap: () => undefined },
          log,
          workerHeader: (w) => `worker:${w}`,
          acceptTimeoutMs: s.acceptTimeoutMs,
          maxBufferedBytes: s.maxBufferedBytes,
          ...(s.clock ? { clock: s.clock } : {}),
        },
      );
      // As the route does: an error before the head is an ordinary error reply.
      call.outcome = relay.run().then((err) => {
        if (err) {
          res.writeHead(err.statusCode, { 'content-type': 'application/json' });
          res.end(JSON.stringify(openAiError(err)));
        }
        return err;
      });
      calls.push(call);
      req.resume();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /** Sends a request with `s`, and returns it with the relay's call once it submitted. */
  async function start(s: Partial<Setup> = {}, init: RequestInit = {}): Promise<{ response: Promise<Response>; call: Call }> {
    setup = { ...DEFAULTS, ...s };
    const n = calls.length;
    const response = fetch(`${base}/v1/completions`, { method: 'POST', body: '{}', ...init });
    response.catch(() => undefined);
    await eventually(() => calls.length > n && calls[n]!.sent.length > 0, 'the relay submitted');
    return { response, call: calls[n]! };
  }

  test('ingress response relay - a JSON answer is held until its end frame, then written whole', async () => {
    const { response, call } = await start({ stream: false });
    const h = call.sent[0]!.handlers;
    h.frame(F.accepted());
    h.frame(F.head('application/json'));
    h.frame(F.data('{"text":'));
    assert.equal(call.res.headersSent, false, 'nothing is written before the end');
    h.frame(F.data('"hello"}'));
    h.frame(F.end());
    const r = await response;
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('x-request-id'), 'req-1');
    assert.equal(r.headers.get('x-router-worker'), 'worker:w-1');
    assert.equal(r.headers.get('cache-control'), null);
    assert.deepEqual(await r.json(), { text: 'hello' });
    assert.equal(await call.outcome, null);
    assert.equal(call.hijacked, 1);
  });

  test('ingress response relay - a JSON answer whose end carries an error is an error reply, never a body cut short', async () => {
    const { response, call } = await start({ stream: false });
    const h = call.sent[0]!.handlers;
    h.frame(F.accepted());
    h.frame(F.head('application/json'));
    h.frame(F.data('{"text":"hal'));
    h.frame(F.end(errors.LLMR_ERR_STREAM_BROKEN('the worker failed mid-answer')));
    const r = await response;
    assert.equal(r.status, 502);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_STREAM_BROKEN');
    assert.equal(call.sent.length, 1, 'the scheduler answered: not resubmitted');
  });

  test('ingress response relay - an error frame before the head is an ordinary error reply', async () => {
    const { response, call } = await start();
    const h = call.sent[0]!.handlers;
    h.frame(F.accepted());
    h.frame(F.error(errors.LLMR_ERR_NO_WORKER('m')));
    const r = await response;
    assert.equal(r.status, 503);
    const body = (await r.json()) as { error: { code: string; type: string } };
    assert.equal(body.error.code, 'LLMR_ERR_NO_WORKER');
    assert.equal(call.hijacked, 0, 'the caller answers');
    assert.equal(call.sent.length, 1);
  });

  test('ingress response relay - a stream that ends before its head is LLMR_ERR_UPSTREAM_PROTOCOL', async () => {
    const { response, call } = await start();
    const h = call.sent[0]!.handlers;
    h.frame(F.accepted());
    h.frame(F.end());
    const r = await response;
    assert.equal(r.status, 502);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_UPSTREAM_PROTOCOL');
  });

  test('ingress response relay - an SSE head is written at its head frame, the bytes as they come', async () => {
    const { response, call } = await start();
    const h = call.sent[0]!.handlers;
    h.frame(F.accepted());
    h.frame(F.head('text/event-stream'));
    // Written at once (node sends it with the first body bytes).
    assert.equal(call.res.headersSent, true);
    h.frame(F.data('data: {"n":1}\n\n'));
    const r = await response;
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    assert.equal(r.headers.get('x-accel-buffering'), 'no');
    assert.equal(r.headers.get('x-router-worker'), 'worker:w-1');
    const reader = r.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), 'data: {"n":1}\n\n');
    h.frame(F.data('data: [DONE]\n\n'));
    h.frame(F.end({ code: 'LLMR_ERR_CLIENT_CLOSED' } as RouterError));
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    assert.equal(rest, 'data: [DONE]\n\n', 'a client-closed end is no error to report');
    assert.equal(await call.outcome, null);
    assert.deepEqual(call.counted, []);
  });

  test('ingress response relay - after the head an error ends the SSE stream with an error event, and nothing is resubmitted', async () => {
    const cases: [string, (h: StreamHandlers) => void, string][] = [
      ['an end frame with an error', (h) => h.frame(F.end(errors.LLMR_ERR_DEADLINE('then'))), 'LLMR_ERR_DEADLINE'],
      ['a lost scheduler', (h) => h.fail(errors.LLMR_ERR_STREAM_BROKEN('scheduler gone')), 'LLMR_ERR_STREAM_BROKEN'],
      ['a silent stream', (h) => h.fail(errors.LLMR_ERR_STREAM_IDLE('300000')), 'LLMR_ERR_STREAM_IDLE'],
    ];
    for (const [what, failure, code] of cases) {
      const { response, call } = await start();
      const h = call.sent[0]!.handlers;
      h.frame(F.accepted());
      h.frame(F.head('text/event-stream'));
      h.frame(F.data('data: {"n":1}\n\n'));
      const r = await response;
      failure(h);
      const sse = await readSse(r);
      assert.equal(sse.payloads[0], '{"n":1}', what);
      assert.equal((JSON.parse(sse.payloads[1]!) as { error: { code: string } }).error.code, code, what);
      assert.ok(sse.done, `${what}: the stream still ends with [DONE]`);
      assert.deepEqual(call.counted, [code], what);
      assert.equal(call.sent.length, 1, `${what}: bytes were out, nothing is resubmitted`);
    }
  });

  test('ingress response relay - a client that closes before the head: its stream is cancelled, nothing answered', async () => {
    for (const stream of [true, false]) {
      const ac = new AbortController();
      const { response, call } = await start({ stream }, { signal: ac.signal });
      const h = call.sent[0]!.handlers;
      h.frame(F.accepted());
      if (!stream) h.frame(F.head('application/json')); // held: still before the head for the client
      ac.abort();
      await assert.rejects(response);
      assert.equal(await call.outcome, null);
      await eventually(() => call.cancelled.length === 1, 'the stream is cancelled');
      assert.deepEqual(call.cancelled, [call.sent[0]!.id]);
      assert.deepEqual(call.counted, ['LLMR_ERR_CLIENT_CLOSED']);
      assert.equal(call.hijacked, 1, 'the caller must not answer');
      h.frame(F.head('application/json'));
      h.frame(F.end());
      assert.equal(call.res.headersSent, false, 'late frames write nothing');
    }
  });

  test('ingress response relay - a client that closes mid-stream: its stream is cancelled', async () => {
    const ac = new AbortController();
    const { response, call } = await start({}, { signal: ac.signal });
    const h = call.sent[0]!.handlers;
    h.frame(F.accepted());
    h.frame(F.head('text/event-stream'));
    h.frame(F.data('data: {"n":1}\n\n'));
    const r = await response;
    await r.body!.getReader().read();
    ac.abort();
    assert.equal(await call.outcome, null);
    assert.deepEqual(call.cancelled, [call.sent[0]!.id]);
    assert.deepEqual(call.counted, ['LLMR_ERR_CLIENT_CLOSED']);
  });

  test('ingress response relay - a client that leaves more than the bound unread is cut off and its stream cancelled', async () => {
    setup = { ...DEFAULTS, maxBufferedBytes: 256 * 1024 };
    const n = calls.length;
    const port = Number(new URL(base).port);
    // A client that sends its request and never reads a byte of the answer.
    const socket = tcpConnect(port, '127.0.0.1');
    socket.pause();
    socket.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}');
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    await eventually(() => calls.length > n && calls[n]!.sent.length > 0, 'the relay submitted');
    const call = calls[n]!;
    const h = call.sent[0]!.handlers;
    h.frame(F.accepted());
    h.frame(F.head('text/event-stream'));
    // Kernel buffers take some megabytes first; past them the relay's own buffer grows to the bound.
    const chunk = new Uint8Array(1024 * 1024).fill(0x61);
    for (let i = 0; i < 256 && call.cancelled.length === 0; i++) {
      h.frame(F.data(chunk));
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(call.cancelled, [call.sent[0]!.id], 'cancelled once over the bound');
    assert.deepEqual(call.counted, ['LLMR_ERR_SLOW_CLIENT']);
    assert.equal(await call.outcome, null);
    assert.ok(call.res.destroyed, 'the connection is cut');
    socket.resume(); // reads what the kernel holds, then the end
    await closed;
  });

  test('ingress response relay - a scheduler lost before the head: resubmitted under a new stream id, and the answer comes from there', async () => {
    const { response, call } = await start();
    const first = call.sent[0]!;
    first.handlers.frame(F.accepted());
    first.handlers.fail(errors.LLMR_ERR_STREAM_BROKEN('scheduler sched-t is gone'));
    await eventually(() => call.sent.length === 2, 'resubmitted');
    const second = call.sent[1]!;
    assert.notEqual(second.id, first.id);
    // A late failure of the old stream is no concern of the new one.
    first.handlers.fail(errors.LLMR_ERR_STREAM_BROKEN('late'));
    answer(second.handlers, 'text/event-stream', 'data: {"n":1}\n\n', 'data: [DONE]\n\n');
    const r = await response;
    assert.equal(r.status, 200);
    assert.ok((await readSse(r)).done);
    assert.equal(call.sent.length, 2);
  });

  test('ingress response relay - a lost scheduler is resubmitted twice at most, then answered with its error', async () => {
    const { response, call } = await start();
    for (let i = 0; i < 3; i++) {
      await eventually(() => call.sent.length === i + 1, `submission ${i + 1}`);
      call.sent[i]!.handlers.fail(errors.LLMR_ERR_BUS_UNAVAILABLE('disconnected from NATS'));
    }
    const r = await response;
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_BUS_UNAVAILABLE');
    assert.equal(call.sent.length, 3);
  });

  test('ingress response relay - a resubmission waits for the bus, and fails with its cause when the bus stays down', async () => {
    let waited = 0;
    const { response, call } = await start({
      bus: {
        up: false,
        whenUp: async () => {
          waited++;
          return false;
        },
      },
    });
    call.sent[0]!.handlers.fail(errors.LLMR_ERR_STREAM_BROKEN('scheduler gone'));
    const r = await response;
    assert.equal(r.status, 502);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_STREAM_BROKEN');
    assert.equal(waited, 1);
    assert.equal(call.sent.length, 1);
  });

  test('ingress response relay - no scheduler subscribed: tried again until the accept timeout, then LLMR_ERR_NO_SCHEDULER', async () => {
    let mono = 0;
    // random() = 0: every pause is 0 ms; the test moves the clock past the accept timeout.
    const clock: ResubmitClock = { mono: () => mono, wall: () => Date.now(), random: () => 0 };
    const { response, call } = await start({ clock, acceptTimeoutMs: 1000 });
    call.sent[0]!.handlers.fail(noSchedulerSubscribed());
    await eventually(() => call.sent.length === 2, 'tried again');
    call.sent[1]!.handlers.fail(noSchedulerSubscribed());
    await eventually(() => call.sent.length === 3, 'tried again');
    mono = 1000;
    call.sent[2]!.handlers.fail(noSchedulerSubscribed());
    const r = await response;
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_NO_SCHEDULER');
    assert.equal(call.sent.length, 3);
  });

  test('ingress response relay - a submission the bus refuses at once is answered with its error', async () => {
    setup = DEFAULTS;
    const n = calls.length;
    const failing = createServer((_req, res) => {
      const relay = new ResponseRelay(
        res,
        { requestId: 'req-2', stream: false, route: '/v1/completions', model: 'm', startedAt: performance.now(), deadline: Date.now() + 60_000 },
        {
          submit: () => {
            throw errors.LLMR_ERR_BUS_UNAVAILABLE('the NATS connection is closed');
          },
          cancel: () => undefined,
          hijack: () => undefined,
          bus: DEFAULTS.bus,
          metrics: { error: () => undefined, firstByte: () => undefined, chunkGap: () => undefined },
          log,
          workerHeader: () => null,
          acceptTimeoutMs: 1000,
          maxBufferedBytes: 1024,
        },
      );
      void relay.run().then((err) => {
        res.writeHead(err?.statusCode ?? 200);
        res.end(err?.code ?? 'none');
      });
    });
    await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
    try {
      const r = await fetch(`http://127.0.0.1:${(failing.address() as AddressInfo).port}/`, { method: 'POST', body: '{}' });
      assert.equal(r.status, 503);
      assert.equal(await r.text(), 'LLMR_ERR_BUS_UNAVAILABLE');
      assert.equal(calls.length, n);
    } finally {
      failing.closeAllConnections();
      await new Promise((r) => failing.close(r));
    }
  });
});
