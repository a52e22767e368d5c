// The scheduler's stream writer over a real bus: chunks that arrive in one turn travel as one
// data frame, big bursts split at 32 KiB, frames of every stream keep their order and contiguous
// sequence numbers even when many streams share one flush, and nothing is written after the end.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { errors } from '../../proto/errors.ts';
import { decodeFrame, type Frame } from '../../proto/stream.ts';
import { StreamWriter } from '../../scheduler/stream-writer.ts';
import { cleanupScope } from '../helpers/stack.ts';
import { startNatsServer } from '../helpers/nats-server.ts';

const enc = new TextEncoder();

/** Collects the frames published on one subject until an end or error frame. */
function collect(nc: NatsConnection, subject: string): Promise<Frame[]> {
  const sub = nc.subscribe(subject);
  return (async () => {
    const frames: Frame[] = [];
    for await (const m of sub) {
      const r = decodeFrame((k) => m.headers?.get(k) || undefined, m.data);
      assert.ok(r.ok, r.ok ? '' : r.reason);
      frames.push(r.frame);
      if (r.frame.kind === 'end' || r.frame.kind === 'error') break;
    }
    sub.unsubscribe();
    return frames;
  })();
}

describe('stream writer', () => {
  const scope = cleanupScope();
  let nc: NatsConnection;
  before(async () => {
    const server = await startNatsServer(scope);
    nc = await connect({ servers: server.url });
    scope.after(() => nc.close());
  });
  after(() => scope.run());

  test('stream writer - chunks written in one turn travel as one data frame after the head', async () => {
    const got = collect(nc, 'test.sw.one');
    await nc.flush();
    const w = new StreamWriter(nc, 'test.sw.one');
    w.accepted('sched-1');
    w.head(200, 'text/event-stream', 'w1');
    for (const t of ['data: a\n\n', 'data: b\n\n', 'data: c\n\n']) w.data(enc.encode(t));
    await new Promise((r) => setImmediate(r));
    w.data(enc.encode('data: d\n\n'));
    w.end({ usage: { promptTokens: 3, completionTokens: 4 } });
    w.data(enc.encode('late'));
    const frames = await got;
    assert.deepEqual(
      frames.map((f) => f.kind),
      ['accepted', 'head', 'data', 'data', 'end'],
    );
    assert.deepEqual(
      frames.map((f) => f.seq),
      [0, 1, 2, 3, 4],
    );
    const text = frames.flatMap((f) => (f.kind === 'data' ? [Buffer.from(f.data).toString()] : []));
    assert.deepEqual(text, ['data: a\n\ndata: b\n\ndata: c\n\n', 'data: d\n\n']);
    const end = frames.at(-1)!;
    assert.ok(end.kind === 'end');
    assert.deepEqual(end.usage, { promptTokens: 3, completionTokens: 4 });
    assert.equal(w.bytesOut, 36);
    assert.ok(w.closed);
  });

  test('stream writer - a burst past 32 KiB splits into several frames in order', async () => {
    const got = collect(nc, 'test.sw.big');
    await nc.flush();
    const w = new StreamWriter(nc, 'test.sw.big');
    w.head(200, 'application/json', 'w1');
    const chunks = Array.from({ length: 40 }, (_, i) => enc.encode(String(i % 10).repeat(2048)));
    for (const c of chunks) w.data(c);
    w.end();
    const frames = await got;
    const data = frames.filter((f) => f.kind === 'data');
    assert.ok(data.length >= 3, `expected the 80 KiB burst to split, got ${data.length} frame(s)`);
    const joined = Buffer.concat(data.map((f) => (f.kind === 'data' ? f.data : new Uint8Array())));
    assert.equal(joined.toString(), Buffer.concat(chunks).toString());
    assert.deepEqual(
      frames.map((f) => f.seq),
      frames.map((_, i) => i),
    );
  });

  test('stream writer - many streams sharing one flush each keep their own order', async () => {
    const n = 50;
    const subjects = Array.from({ length: n }, (_, i) => `test.sw.many.${i}`);
    const got = subjects.map((s) => collect(nc, s));
    await nc.flush();
    const writers = subjects.map((s) => new StreamWriter(nc, s));
    for (const w of writers) w.head(200, 'text/event-stream', 'w1');
    for (let turn = 0; turn < 5; turn++) {
      for (const [i, w] of writers.entries()) w.data(enc.encode(`${i}:${turn};`));
      await new Promise((r) => setImmediate(r));
    }
    for (const w of writers) w.end();
    const all = await Promise.all(got);
    for (const [i, frames] of all.entries()) {
      assert.deepEqual(
        frames.map((f) => f.seq),
        frames.map((_, k) => k),
      );
      assert.equal(frames[0]!.kind, 'head');
      assert.equal(frames.at(-1)!.kind, 'end');
      const body = frames.flatMap((f) => (f.kind === 'data' ? [Buffer.from(f.data).toString()] : [])).join('');
      assert.equal(body, [0, 1, 2, 3, 4].map((t) => `${i}:${t};`).join(''));
    }
  });

  test('stream writer - a body larger than the bus allows goes as several data frames, each within max_payload', async () => {
    const small = await startNatsServer(scope, { extraConfig: 'max_payload: 64KB' });
    const nc2 = await connect({ servers: small.url });
    scope.after(() => nc2.close());
    const got = collect(nc2, 'test.sw.huge');
    await nc2.flush();
    const w = new StreamWriter(nc2, 'test.sw.huge');
    w.head(200, 'application/json', 'w1');
    // A JSON answer is passed on as one buffered chunk: 300 KiB here, 9 MB with logprobs on vLLM.
    const body = Buffer.from(Array.from({ length: 300 * 1024 }, (_, i) => 97 + (i % 26)));
    w.data(body);
    w.end();
    const frames = await got;
    const data = frames.filter((f) => f.kind === 'data');
    assert.ok(data.length >= 5, `split into ${data.length} frame(s)`);
    for (const f of data) assert.ok(f.kind === 'data' && f.data.length <= 64 * 1024);
    assert.deepEqual(Buffer.concat(data.map((f) => (f.kind === 'data' ? f.data : new Uint8Array()))), body);
    assert.deepEqual(
      frames.map((f) => f.seq),
      frames.map((_, i) => i),
      'no gap',
    );
    assert.equal(frames.at(-1)!.kind, 'end');
  });

  test('stream writer - a connection that closed under it: the writer stops quietly, nothing is thrown', async () => {
    const own = await connect({ servers: (await startNatsServer(scope)).url });
    const w = new StreamWriter(own, 'test.sw.closed');
    w.head(200, 'text/event-stream', 'w1');
    w.data(enc.encode('data: x\n\n'));
    await own.close();
    assert.doesNotThrow(() => w.flush());
    assert.ok(w.closed);
    w.data(enc.encode('late'));
    w.end();
    assert.doesNotThrow(() => w.flush());
  });

  test('stream writer - fail ends the stream with an error frame before the head, an end carrying the error after', async () => {
    const early = collect(nc, 'test.sw.fail.early');
    const late = collect(nc, 'test.sw.fail.late');
    await nc.flush();
    const a = new StreamWriter(nc, 'test.sw.fail.early');
    a.accepted('sched-1');
    a.fail(errors.LLMR_ERR_DEADLINE('then'));
    a.fail(errors.LLMR_ERR_INTERNAL('twice'));
    const b = new StreamWriter(nc, 'test.sw.fail.late');
    b.accepted('sched-1');
    b.head(200, 'text/event-stream', 'w1');
    b.data(enc.encode('data: x\n\n'));
    b.fail(errors.LLMR_ERR_DEADLINE('then'));
    const [fa, fb] = await Promise.all([early, late]);
    assert.deepEqual(
      fa.map((f) => f.kind),
      ['accepted', 'error'],
    );
    assert.ok(fa[1]!.kind === 'error' && fa[1]!.error.code === 'LLMR_ERR_DEADLINE');
    assert.deepEqual(
      fb.map((f) => f.kind),
      ['accepted', 'head', 'data', 'end'],
    );
    const end = fb.at(-1)!;
    assert.ok(end.kind === 'end' && end.error?.code === 'LLMR_ERR_DEADLINE');
    assert.ok(a.closed && b.closed);
  });

  test('stream writer - an error before the head closes the stream', async () => {
    const got = collect(nc, 'test.sw.err');
    await nc.flush();
    const w = new StreamWriter(nc, 'test.sw.err');
    w.accepted('sched-1');
    w.error(errors.LLMR_ERR_NO_WORKER('m'));
    w.end();
    const frames = await got;
    assert.deepEqual(
      frames.map((f) => f.kind),
      ['accepted', 'error'],
    );
    assert.ok(frames[1]!.kind === 'error' && frames[1]!.error.code === 'LLMR_ERR_NO_WORKER');
  });
});
