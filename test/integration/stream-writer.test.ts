// The scheduler's stream writers and their ingress's outbox over a real bus (scheduler/outbox.ts,
// scheduler/stream-writer.ts): the frames of many streams travel together in bundles on one
// subject per (ingress, scheduler); each stream's frames keep their order and contiguous
// sequence numbers; chunks that wait for the same bundle become one data frame; a body larger
// than a message splits; nothing is written after the end; a busy outbox waits its linger
// between bundles while an idle one publishes at the end of the turn.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { errors } from '../../proto/errors.ts';
import { decodeBundle, type Frame } from '../../proto/stream.ts';
import { subjects } from '../../proto/subjects.ts';
import { ACCEPT_HOLD_MS, Outboxes } from '../../scheduler/outbox.ts';
import { cleanupScope } from '../helpers/stack.ts';
import { startNatsServer } from '../helpers/nats-server.ts';

const enc = new TextEncoder();
const SCHED = 'sched-t';

/** Collects the bundles sent to `ingress`, and each stream's frames, until `streams` streams have closed. */
function collect(nc: NatsConnection, ingress: string, streams: number): Promise<{ bundles: number; sizes: number[]; byStream: Map<string, Frame[]> }> {
  const sub = nc.subscribe(subjects.frames(ingress, SCHED));
  return (async () => {
    const byStream = new Map<string, Frame[]>();
    const sizes: number[] = [];
    let closed = 0;
    let bundles = 0;
    for await (const m of sub) {
      bundles++;
      sizes.push(m.data.length);
      const lost = decodeBundle(m.data, SCHED, {
        frame: (id, f) => {
          const list = byStream.get(id) ?? [];
          byStream.set(id, list);
          // Data views point into the message: keep a copy.
          list.push(f.kind === 'data' ? { ...f, data: Uint8Array.from(f.data) } : f);
          if (f.kind === 'end' || f.kind === 'error') closed++;
        },
        malformed: (id, _seq, why) => assert.fail(`malformed frame of ${id}: ${why}`),
      });
      assert.equal(lost, null);
      if (closed >= streams) break;
    }
    sub.unsubscribe();
    return { bundles, sizes, byStream };
  })();
}

const texts = (frames: Frame[]): string[] => frames.flatMap((f) => (f.kind === 'data' ? [Buffer.from(f.data).toString()] : []));

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
    const got = collect(nc, 'ing-one', 1);
    await nc.flush();
    const w = new Outboxes(nc, SCHED, { lingerMs: 0 }).writer('ing-one', 'S1');
    w.accepted();
    w.head(200, 'text/event-stream', 'w1');
    for (const t of ['data: a\n\n', 'data: b\n\n', 'data: c\n\n']) w.data(enc.encode(t));
    await new Promise((r) => setImmediate(r));
    w.data(enc.encode('data: d\n\n'));
    w.end({ usage: { promptTokens: 3, completionTokens: 4 } });
    w.data(enc.encode('late'));
    const frames = (await got).byStream.get('S1')!;
    assert.deepEqual(
      frames.map((f) => [f.kind, f.seq]),
      [
        ['accepted', 0],
        ['head', 1],
        ['data', 2],
        ['data', 3],
        ['end', 4],
      ],
    );
    assert.deepEqual(texts(frames), ['data: a\n\ndata: b\n\ndata: c\n\n', 'data: d\n\n']);
    const end = frames.at(-1)!;
    assert.ok(end.kind === 'end');
    assert.deepEqual(end.usage, { promptTokens: 3, completionTokens: 4 });
    assert.equal(w.bytesOut, 36);
    assert.ok(w.closed);
  });

  test('stream writer - many streams share bundles, and each keeps its own order', async () => {
    const n = 50;
    const got = collect(nc, 'ing-many', n);
    await nc.flush();
    const boxes = new Outboxes(nc, SCHED, { lingerMs: 0 });
    const writers = Array.from({ length: n }, (_, i) => boxes.writer('ing-many', `S${i}`));
    for (const w of writers) w.head(200, 'text/event-stream', 'w1');
    for (let turn = 0; turn < 5; turn++) {
      for (const [i, w] of writers.entries()) w.data(enc.encode(`${i}:${turn};`));
      await new Promise((r) => setImmediate(r));
    }
    for (const w of writers) w.end();
    const r = await got;
    assert.ok(r.bundles <= 7, `${n} streams × 7 frames in ${r.bundles} bundles: one per turn`);
    assert.equal(boxes.stats.bundles, r.bundles);
    assert.equal(boxes.stats.frames, n * 7);
    for (let i = 0; i < n; i++) {
      const frames = r.byStream.get(`S${i}`)!;
      assert.deepEqual(
        frames.map((f) => f.seq),
        frames.map((_, k) => k),
      );
      assert.equal(frames[0]!.kind, 'head');
      assert.equal(frames.at(-1)!.kind, 'end');
      assert.equal(texts(frames).join(''), [0, 1, 2, 3, 4].map((t) => `${i}:${t};`).join(''));
    }
  });

  test('stream writer - a busy outbox publishes at most once per linger, and its streams coalesce meanwhile', async () => {
    const got = collect(nc, 'ing-linger', 1);
    await nc.flush();
    const boxes = new Outboxes(nc, SCHED, { lingerMs: 50 });
    const w = boxes.writer('ing-linger', 'S1');
    w.head(200, 'text/event-stream', 'w1');
    // 40 tokens over ~200 ms (a token every 5 ms): a linger of 50 ms holds about ten per bundle.
    const started = performance.now();
    for (let i = 0; i < 40; i++) {
      w.data(enc.encode(`data: ${i}\n\n`));
      await new Promise((r) => setTimeout(r, 5));
    }
    w.end();
    const elapsed = performance.now() - started;
    const r = await got;
    const frames = r.byStream.get('S1')!;
    assert.equal(texts(frames).join(''), Array.from({ length: 40 }, (_, i) => `data: ${i}\n\n`).join(''));
    // However slow the machine, bundles cannot come faster than one per 50 ms after the first.
    assert.ok(r.bundles <= Math.ceil(elapsed / 50) + 2, `${r.bundles} bundles in ${elapsed.toFixed(0)} ms`);
    assert.ok(texts(frames).length < 40, 'tokens that waited for the same bundle became one data frame');
  });

  test("stream writer - a head does not wait for the linger: the client's first token leaves at the end of its turn", async () => {
    const got = collect(nc, 'ing-head', 1);
    await nc.flush();
    const boxes = new Outboxes(nc, SCHED, { lingerMs: 60_000 });
    const w = boxes.writer('ing-head', 'S1');
    w.error(errors.LLMR_ERR_NO_WORKER('m'));
    w.flush();
    assert.equal(boxes.stats.bundles, 1, 'an outbox that just published…');
    const x = boxes.writer('ing-head', 'S2');
    x.accepted();
    x.data(enc.encode('data: early\n\n'));
    await new Promise((r) => setImmediate(r));
    assert.equal(boxes.stats.bundles, 1, '…holds data for the linger…');
    x.head(200, 'text/event-stream', 'w1');
    await new Promise((r) => setImmediate(r));
    assert.equal(boxes.stats.bundles, 2, '…but not a head: it left at the end of its turn, with what waited before it');
    x.end();
    x.flush();
    await got;
  });

  test('stream writer - a bundle of nothing but accepted frames waits for what follows them, and leaves on its own after the hold', async () => {
    const got = collect(nc, 'ing-hold', 2);
    await nc.flush();
    const boxes = new Outboxes(nc, SCHED, { lingerMs: 0 });
    const quick = boxes.writer('ing-hold', 'QUICK');
    quick.accepted();
    await new Promise((r) => setImmediate(r));
    assert.equal(boxes.stats.bundles, 0, 'an accepted alone does not leave at the end of its turn');
    quick.head(200, 'text/event-stream', 'w1');
    quick.data(enc.encode('data: x\n\n'));
    quick.end();
    await new Promise((r) => setImmediate(r));
    assert.equal(boxes.stats.bundles, 1, 'the answer took the accepted along: one bundle for the whole request');
    assert.equal(boxes.stats.frames, 4);
    const slow = boxes.writer('ing-hold', 'SLOW');
    slow.accepted();
    const started = performance.now();
    while (boxes.stats.bundles < 2) await new Promise((r) => setTimeout(r, 2));
    assert.ok(performance.now() - started >= ACCEPT_HOLD_MS - 1, 'held for the accept hold');
    slow.error(errors.LLMR_ERR_NO_WORKER('m'));
    const r = await got;
    assert.deepEqual(
      r.byStream.get('SLOW')!.map((f) => f.kind),
      ['accepted', 'error'],
    );
  });

  test('stream writer - a timer that fires before its bundle is due waits for the rest instead of dropping the bundle', (t) => {
    // Node may run a timer a little before performance.now() says it is due. Mock timers make
    // that exact: ticking them fires the timer while no real time has passed.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const published: Uint8Array[] = [];
    const bus = { info: { max_payload: 1024 * 1024 }, publish: (_subject: string, data: Uint8Array) => void published.push(data) } as unknown as NatsConnection;
    const boxes = new Outboxes(bus, SCHED, { lingerMs: 50 });
    const first = boxes.writer('ing-early', 'S1');
    first.error(errors.LLMR_ERR_NO_WORKER('m'));
    first.flush();
    assert.equal(published.length, 1);
    const last = boxes.writer('ing-early', 'S2');
    last.end(); // due one linger after the publish above
    t.mock.timers.tick(50);
    assert.equal(published.length, 1, 'not published early');
    const until = performance.now() + 51;
    while (performance.now() < until) {
      // let the linger pass for real
    }
    t.mock.timers.tick(50);
    assert.equal(published.length, 2, 'published once due: the end did not wait for a next frame that may never come');
  });

  test('stream writer - a burst past 64 KiB leaves at once, without waiting for the end of the turn', async () => {
    const got = collect(nc, 'ing-burst', 1);
    await nc.flush();
    const boxes = new Outboxes(nc, SCHED, { lingerMs: 0 });
    const w = boxes.writer('ing-burst', 'S1');
    w.head(200, 'application/json', 'w1');
    for (let i = 0; i < 40; i++) w.data(enc.encode(String(i % 10).repeat(2048)));
    assert.ok(boxes.stats.bundles >= 1, 'published within the turn');
    w.end();
    const r = await got;
    assert.equal(Buffer.concat(texts(r.byStream.get('S1')!).map((t) => Buffer.from(t))).length, 40 * 2048);
  });

  test('stream writer - a body larger than the bus allows goes as several data frames in several bundles, each within max_payload', async () => {
    const small = await startNatsServer(scope, { extraConfig: 'max_payload: 64KB' });
    const nc2 = await connect({ servers: small.url });
    scope.after(() => nc2.close());
    const got = collect(nc2, 'ing-huge', 1);
    await nc2.flush();
    const w = new Outboxes(nc2, SCHED, { lingerMs: 0 }).writer('ing-huge', 'S1');
    w.head(200, 'application/json', 'w1');
    // A JSON answer is passed on as one buffered chunk: 300 KiB here, 9 MB with logprobs on vLLM.
    const body = Buffer.from(Array.from({ length: 300 * 1024 }, (_, i) => 97 + (i % 26)));
    w.data(body);
    w.end();
    const r = await got;
    for (const size of r.sizes) assert.ok(size <= 64 * 1024, `a bundle of ${size} bytes`);
    const frames = r.byStream.get('S1')!;
    assert.ok(frames.filter((f) => f.kind === 'data').length >= 5);
    assert.deepEqual(Buffer.concat(frames.flatMap((f) => (f.kind === 'data' ? [f.data] : []))), body);
    assert.deepEqual(
      frames.map((f) => f.seq),
      frames.map((_, i) => i),
      'no gap',
    );
    assert.equal(frames.at(-1)!.kind, 'end');
  });

  test('stream writer - a connection that closed under it: the writers of that bundle stop quietly, nothing is thrown', async () => {
    const own = await connect({ servers: (await startNatsServer(scope)).url });
    const boxes = new Outboxes(own, SCHED, { lingerMs: 0 });
    const w = boxes.writer('ing-closed', 'S1');
    w.head(200, 'text/event-stream', 'w1');
    w.data(enc.encode('data: x\n\n'));
    await own.close();
    assert.doesNotThrow(() => w.flush());
    assert.ok(w.closed);
    assert.equal(boxes.stats.failed, 1);
    w.data(enc.encode('late'));
    w.end();
    assert.doesNotThrow(() => w.flush());
  });

  test('stream writer - fail ends the stream with an error frame before the head, an end carrying the error after', async () => {
    const got = collect(nc, 'ing-fail', 2);
    await nc.flush();
    const boxes = new Outboxes(nc, SCHED, { lingerMs: 0 });
    const a = boxes.writer('ing-fail', 'EARLY');
    a.accepted();
    a.fail(errors.LLMR_ERR_DEADLINE('then'));
    a.fail(errors.LLMR_ERR_INTERNAL('twice'));
    const b = boxes.writer('ing-fail', 'LATE');
    b.accepted();
    b.head(200, 'text/event-stream', 'w1');
    b.data(enc.encode('data: x\n\n'));
    b.fail(errors.LLMR_ERR_DEADLINE('then'));
    const r = await got;
    const fa = r.byStream.get('EARLY')!;
    const fb = r.byStream.get('LATE')!;
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

  test('stream writer - an outbox unused for a minute is forgotten; one with a recent bundle is kept', () => {
    const boxes = new Outboxes(nc, SCHED, { lingerMs: 0 });
    const first = boxes.writer('ing-sweep', 'S1');
    boxes.sweep(performance.now() + 30_000);
    const second = boxes.writer('ing-sweep', 'S2');
    second.accepted();
    second.flush();
    assert.equal(boxes.stats.bundles, 1);
    first.accepted();
    first.flush();
    assert.equal(boxes.stats.bundles, 2, 'both writers share the outbox that was kept');
    boxes.sweep(performance.now() + 61_000);
    assert.equal(boxes.size, 0);
    const third = boxes.writer('ing-sweep', 'S3');
    third.accepted();
    third.flush();
    assert.equal(boxes.stats.bundles, 3, 'a new outbox for the same ingress works as the old one did');
  });
});
