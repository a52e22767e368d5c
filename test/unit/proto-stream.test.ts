// The stream protocol's bundle codec (proto/stream.ts): what the scheduler packs, the ingress
// reads back frame for frame, and what it refuses — per frame (a malformed payload fails that
// stream) or for the rest of the bundle (a wrong version, a truncation).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errors, toWire } from '../../proto/errors.ts';
import { BUNDLE_VERSION, BundleEncoder, decodeBundle, encodeHead, encodeJson, KIND, type Frame, type Kind } from '../../proto/stream.ts';

const EMPTY = new Uint8Array(0);
const enc = new TextEncoder();

interface Seen {
  frames: [string, Frame][];
  malformed: [string, number, string][];
  lost: string | null;
}

function read(bundle: Uint8Array, scheduler = 'sched-1'): Seen {
  const seen: Seen = { frames: [], malformed: [], lost: null };
  seen.lost = decodeBundle(bundle, scheduler, {
    frame: (id, f) => seen.frames.push([id, f]),
    malformed: (id, seq, why) => seen.malformed.push([id, seq, why]),
  });
  return seen;
}

function one(kind: Kind, payload: Uint8Array, seq = 1, id = '01JSTREAM'): Frame {
  const e = new BundleEncoder();
  e.add(id, kind, seq, payload);
  const s = read(e.take());
  assert.equal(s.lost, null);
  assert.deepEqual(s.malformed, []);
  assert.equal(s.frames.length, 1);
  assert.equal(s.frames[0]![0], id);
  return s.frames[0]![1];
}

function refused(kind: Kind, payload: Uint8Array): string {
  const e = new BundleEncoder();
  e.add('01JSTREAM', kind, 1, payload);
  const s = read(e.take());
  assert.equal(s.lost, null);
  assert.deepEqual(s.frames, []);
  assert.equal(s.malformed.length, 1);
  assert.equal(s.malformed[0]![0], '01JSTREAM');
  return s.malformed[0]![2];
}

describe('stream bundles', () => {
  test('stream - the kinds are the five of docs/PROTOCOL.md', () => {
    assert.deepEqual(Object.values(KIND).sort(), ['accepted', 'data', 'end', 'error', 'head']);
  });

  test("stream - accepted names the scheduler of the bundle's subject", () => {
    assert.deepEqual(one('accepted', EMPTY, 0), { kind: 'accepted', seq: 0, scheduler: 'sched-1' });
    assert.match(refused('accepted', enc.encode('x')), /accepted with a payload/);
  });

  test('stream - head round-trips status, content type and worker', () => {
    assert.deepEqual(one('head', encodeHead(200, 'text/event-stream', 'w1')), { kind: 'head', seq: 1, status: 200, contentType: 'text/event-stream', worker: 'w1' });
    assert.deepEqual(one('head', encodeHead(201, '', '')), { kind: 'head', seq: 1, status: 201, contentType: 'application/json', worker: '' });
    assert.deepEqual(one('head', encodeHead(200, 'application/json', 'p-1,d-1')), { kind: 'head', seq: 1, status: 200, contentType: 'application/json', worker: 'p-1,d-1' });
  });

  for (const status of [0, 99, 600, 65535]) {
    test(`stream - head with status ${status} is refused`, () => {
      assert.match(refused('head', encodeHead(status, 'application/json', 'w')), /head with status/);
    });
  }

  test('stream - a head shorter than its fixed part, or whose content type runs past it, is refused', () => {
    assert.match(refused('head', new Uint8Array([0, 200])), /shorter/);
    assert.match(refused('head', new Uint8Array([0, 200, 0, 9, 97])), /past its end/);
  });

  test('stream - data passes its bytes through untouched', () => {
    const bytes = new Uint8Array([0xff, 0x00, 0x64, 0x61, 0x74, 0x61]);
    const f = one('data', bytes, 2);
    assert.ok(f.kind === 'data');
    assert.equal(f.seq, 2);
    assert.deepEqual([...f.data], [...bytes]);
  });

  test('stream - end with an empty body is a clean end; end carries usage; malformed usage is dropped', () => {
    assert.deepEqual(one('end', EMPTY, 3), { kind: 'end', seq: 3 });
    const usage = { promptTokens: 10, completionTokens: 5, cachedTokens: 8 };
    assert.deepEqual(one('end', encodeJson({ usage }), 3), { kind: 'end', seq: 3, usage });
    for (const bad of [{ promptTokens: 1 }, { promptTokens: 1.5, completionTokens: 2 }, { promptTokens: 1, completionTokens: 2, cachedTokens: 'x' }, 'x', null]) {
      assert.deepEqual(one('end', encodeJson({ usage: bad }), 3), { kind: 'end', seq: 3 });
    }
  });

  test('stream - end and error rebuild their wire errors by code', () => {
    const sent = errors.LLMR_ERR_UPSTREAM_UNREACHABLE('worker w1 died');
    sent.retryAfterS = 2;
    const end = one('end', encodeJson({ error: toWire(sent) }), 4);
    assert.ok(end.kind === 'end' && end.error);
    assert.equal(end.error.code, 'LLMR_ERR_UPSTREAM_UNREACHABLE');
    assert.equal(end.error.statusCode, 502);
    assert.equal(end.error.message, 'No worker could be reached: worker w1 died');
    assert.equal(end.error.retryAfterS, 2);
    const noWorker = errors.LLMR_ERR_NO_WORKER('m');
    noWorker.param = 'model';
    const err = one('error', encodeJson(toWire(noWorker)), 1);
    assert.ok(err.kind === 'error');
    assert.equal(err.error.code, 'LLMR_ERR_NO_WORKER');
    assert.equal(err.error.statusCode, 503);
    assert.equal(err.error.param, 'model');
  });

  test('stream - an unknown error code, or one inherited from Object.prototype, becomes LLMR_ERR_INTERNAL with its message', () => {
    const e = one('error', encodeJson({ code: 'LLMR_ERR_TEAPOT', status: 418, message: 'short and stout' }));
    assert.ok(e.kind === 'error');
    assert.equal(e.error.code, 'LLMR_ERR_INTERNAL');
    assert.equal(e.error.message, 'short and stout');
    const p = one('error', encodeJson({ code: 'toString', message: 'x' }));
    assert.ok(p.kind === 'error' && p.error.code === 'LLMR_ERR_INTERNAL');
  });

  for (const kind of ['end', 'error'] as const) {
    for (const [what, body] of [
      ['not JSON', '{"error":'],
      ['a JSON string', '"boom"'],
      ['JSON null', 'null'],
      ['a JSON array', '[1,2]'],
    ] as const) {
      test(`stream - ${kind} with a body that is ${what} is refused`, () => {
        assert.match(refused(kind, enc.encode(body)), /not a JSON object/);
      });
    }
  }

  test('stream - many streams in one bundle come back in order, each with its id and sequence', () => {
    const e = new BundleEncoder(64);
    const sent: [string, number, string][] = [];
    for (let i = 0; i < 200; i++) {
      const id = `S${i % 7}`;
      const text = `chunk ${i} `.repeat(i % 5);
      e.add(id, 'data', i, enc.encode(text));
      sent.push([id, i, text]);
    }
    assert.equal(e.frames, 200);
    const bundle = e.take();
    assert.equal(bundle[0], BUNDLE_VERSION);
    assert.equal(e.frames, 0, 'the encoder starts a new bundle');
    const s = read(bundle);
    assert.equal(s.lost, null);
    assert.deepEqual(
      s.frames.map(([id, f]) => [id, f.seq, f.kind === 'data' ? Buffer.from(f.data).toString() : '']),
      sent,
    );
  });

  test('stream - the largest sequence number and the longest stream id survive; larger ones cannot be encoded', () => {
    const id = 'x'.repeat(128);
    assert.equal(one('data', enc.encode('a'), 0xffff_ffff, id).seq, 0xffff_ffff);
    const e = new BundleEncoder();
    assert.throws(() => e.add(id, 'data', 2 ** 32, EMPTY), RangeError);
    assert.throws(() => e.add('x'.repeat(129), 'data', 0, EMPTY), RangeError);
    assert.throws(() => e.add('', 'data', 0, EMPTY), RangeError);
  });

  test('stream - a taken bundle is its own buffer: the encoder writing on does not change it', () => {
    const e = new BundleEncoder(16);
    e.add('A', 'data', 0, enc.encode('first'));
    const first = e.take();
    e.add('B', 'data', 0, enc.encode('second, longer than the first'));
    e.take();
    const s = read(first);
    assert.deepEqual(
      s.frames.map(([id, f]) => [id, f.kind === 'data' ? Buffer.from(f.data).toString() : '']),
      [['A', 'first']],
    );
  });

  test('stream - a bundle of another version, or empty, is refused whole', () => {
    assert.match(read(new Uint8Array([1, 3, 1, 65, 0, 0, 0, 0, 0, 0, 0, 0])).lost ?? '', /not a v2 bundle/);
    assert.match(read(EMPTY).lost ?? '', /not a v2 bundle/);
    assert.match(read(enc.encode('garbage')).lost ?? '', /not a v2 bundle/);
  });

  test('stream - a truncated bundle delivers the frames before the cut and says the rest is lost', () => {
    const e = new BundleEncoder();
    e.add('A', 'data', 0, enc.encode('whole'));
    e.add('B', 'data', 0, enc.encode('cut short'));
    const full = e.take();
    for (const cut of [full.length - 1, full.length - 9, 1 + 10 + 1 + 5 + 1]) {
      const s = read(full.subarray(0, cut));
      assert.deepEqual(
        s.frames.map(([id]) => id),
        ['A'],
      );
      assert.match(s.lost ?? '', /truncated|longer than its bundle/);
    }
  });

  test('stream - an unknown kind or an empty stream id is refused', () => {
    const unknown = new Uint8Array([BUNDLE_VERSION, 9, 1, 65, 0, 0, 0, 0, 0, 0, 0, 0]);
    const s = read(unknown);
    assert.equal(s.lost, null);
    assert.deepEqual(s.malformed, [['A', 0, 'unknown frame kind 9']]);
    assert.match(read(new Uint8Array([BUNDLE_VERSION, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0])).lost ?? '', /truncated/);
  });
});
