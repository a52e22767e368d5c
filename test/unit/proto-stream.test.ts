import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errors, toWire } from '../../proto/errors.ts';
import { H, type HeaderGetter } from '../../proto/headers.ts';
import { decodeFrame, encodeJson, frameHeaders, KIND, type Frame } from '../../proto/stream.ts';

const getter =
  (h: Record<string, string>): HeaderGetter =>
  (name) =>
    h[name];

const EMPTY = new Uint8Array(0);

function ok(h: Record<string, string>, data: Uint8Array = EMPTY): Frame {
  const r = decodeFrame(getter(h), data);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.frame;
}

function bad(h: Record<string, string>, data: Uint8Array = EMPTY): string {
  const r = decodeFrame(getter(h), data);
  assert.equal(r.ok, false);
  return r.ok ? '' : r.reason;
}

describe('stream', () => {
  test('stream - the kinds are the five of docs/PROTOCOL.md', () => {
    assert.deepEqual(Object.values(KIND).sort(), ['accepted', 'data', 'end', 'error', 'head']);
  });

  test('stream - accepted round-trips with its scheduler', () => {
    assert.deepEqual(ok(frameHeaders.accepted(0, 'sched-1')), { kind: 'accepted', seq: 0, scheduler: 'sched-1' });
  });

  test('stream - accepted without a valid scheduler is rejected', () => {
    assert.match(bad({ [H.kind]: 'accepted', [H.seq]: '0' }), new RegExp(H.scheduler));
    assert.match(bad(frameHeaders.accepted(0, 'a.b')), new RegExp(H.scheduler));
    assert.match(bad(frameHeaders.accepted(0, '')), new RegExp(H.scheduler));
  });

  test('stream - head round-trips status, content type and worker', () => {
    assert.deepEqual(ok(frameHeaders.head(1, 200, 'text/event-stream', 'w1')), {
      kind: 'head',
      seq: 1,
      status: 200,
      contentType: 'text/event-stream',
      worker: 'w1',
    });
  });

  test('stream - head without content type or worker gets defaults', () => {
    const f = ok({ [H.kind]: 'head', [H.seq]: '1', [H.status]: '201' });
    assert.deepEqual(f, { kind: 'head', seq: 1, status: 201, contentType: 'application/json', worker: '' });
  });

  for (const status of [undefined, '', 'abc', '99', '600', '200.5', '-200']) {
    test(`stream - head with status ${JSON.stringify(status)} is rejected`, () => {
      const h: Record<string, string> = { [H.kind]: 'head', [H.seq]: '1' };
      if (status !== undefined) h[H.status] = status;
      assert.match(bad(h), new RegExp(H.status));
    });
  }

  test('stream - data passes its bytes through untouched', () => {
    const bytes = new Uint8Array([0xff, 0x00, 0x64, 0x61, 0x74, 0x61]);
    const f = ok(frameHeaders.data(2), bytes);
    assert.equal(f.kind, 'data');
    assert.equal(f.seq, 2);
    assert.equal(f.kind === 'data' && f.data, bytes);
  });

  test('stream - end with an empty body is a clean end', () => {
    assert.deepEqual(ok(frameHeaders.end(3)), { kind: 'end', seq: 3 });
  });

  test('stream - end carries usage', () => {
    const usage = { promptTokens: 10, completionTokens: 5, cachedTokens: 8 };
    assert.deepEqual(ok(frameHeaders.end(3), encodeJson({ usage })), { kind: 'end', seq: 3, usage });
  });

  test('stream - end drops malformed usage', () => {
    for (const usage of [{ promptTokens: 1 }, { promptTokens: 1.5, completionTokens: 2 }, { promptTokens: 1, completionTokens: 2, cachedTokens: 'x' }, 'x', null]) {
      assert.deepEqual(ok(frameHeaders.end(3), encodeJson({ usage })), { kind: 'end', seq: 3 });
    }
  });

  test('stream - end rebuilds its wire error by code', () => {
    const sent = errors.LLMR_ERR_UPSTREAM_UNREACHABLE('worker w1 died');
    sent.retryAfterS = 2;
    const f = ok(frameHeaders.end(4), encodeJson({ error: toWire(sent) }));
    assert.equal(f.kind, 'end');
    assert.ok(f.kind === 'end' && f.error);
    assert.equal(f.error.code, 'LLMR_ERR_UPSTREAM_UNREACHABLE');
    assert.equal(f.error.statusCode, 502);
    assert.equal(f.error.type, 'server_error');
    assert.equal(f.error.message, 'No worker could be reached: worker w1 died');
    assert.equal(f.error.retryAfterS, 2);
  });

  test('stream - error rebuilds its wire error by code', () => {
    const sent = errors.LLMR_ERR_NO_WORKER('m');
    sent.param = 'model';
    const f = ok(frameHeaders.error(0, 503), encodeJson(toWire(sent)));
    assert.equal(f.kind, 'error');
    assert.ok(f.kind === 'error');
    assert.equal(f.error.code, 'LLMR_ERR_NO_WORKER');
    assert.equal(f.error.statusCode, 503);
    assert.equal(f.error.message, 'No worker is available for model `m`; retry later.');
    assert.equal(f.error.param, 'model');
  });

  test('stream - an unknown error code becomes LLMR_ERR_INTERNAL and keeps its message', () => {
    const e = ok(frameHeaders.error(0, 418), encodeJson({ code: 'LLMR_ERR_TEAPOT', status: 418, message: 'short and stout' }));
    assert.ok(e.kind === 'error');
    assert.equal(e.error.code, 'LLMR_ERR_INTERNAL');
    assert.equal(e.error.statusCode, 500);
    assert.equal(e.error.message, 'short and stout');
    const end = ok(frameHeaders.end(5), encodeJson({ error: { code: 42 } }));
    assert.ok(end.kind === 'end');
    assert.equal(end.error?.code, 'LLMR_ERR_INTERNAL');
  });

  test('stream - an error code inherited from Object.prototype is not trusted', () => {
    const e = ok(frameHeaders.error(0, 500), encodeJson({ code: 'toString', message: 'x' }));
    assert.ok(e.kind === 'error');
    assert.equal(e.error.code, 'LLMR_ERR_INTERNAL');
  });

  for (const kind of ['end', 'error'] as const) {
    for (const [what, body] of [
      ['not JSON', '{"error":'],
      ['a JSON string', '"boom"'],
      ['JSON null', 'null'],
      ['a JSON number', '42'],
      ['a JSON array', '[1,2]'],
    ] as const) {
      test(`stream - ${kind} with a body that is ${what} is rejected`, () => {
        const h = kind === 'end' ? frameHeaders.end(1) : frameHeaders.error(1, 500);
        assert.match(bad(h, new TextEncoder().encode(body)), /not a JSON object/);
      });
    }
  }

  const SEQS: [string, string | undefined][] = [
    ['missing', undefined],
    ['empty', ''],
    ['negative', '-1'],
    ['fractional', '1.5'],
    ['hex', '0x10'],
    ['with spaces', ' 1'],
    ['text', 'one'],
    ['too long', '1'.repeat(16)],
  ];
  for (const [what, seq] of SEQS) {
    test(`stream - a ${what} ${H.seq} is rejected`, () => {
      const h: Record<string, string> = { [H.kind]: 'data' };
      if (seq !== undefined) h[H.seq] = seq;
      assert.match(bad(h), new RegExp(H.seq));
    });
  }

  test('stream - large sequence numbers are kept exactly', () => {
    assert.equal(ok(frameHeaders.data(999_999_999_999_999)).seq, 999_999_999_999_999);
  });

  test('stream - an unknown or missing kind is rejected', () => {
    assert.match(bad({ [H.kind]: 'chunk', [H.seq]: '0' }), /unknown Llm-Kind "chunk"/);
    assert.match(bad({ [H.kind]: 'DATA', [H.seq]: '0' }), /unknown/);
    assert.match(bad({ [H.seq]: '0' }), /unknown/);
  });
});
