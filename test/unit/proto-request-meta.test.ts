import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { H } from '../../proto/headers.ts';
import { decodeRequestMeta, encodeRequestMeta, type RequestMeta } from '../../proto/request-meta.ts';

const FULL: RequestMeta = {
  requestId: 'chatcmpl-01HZX',
  route: 'chat',
  stream: true,
  routingKey: 'session:abc',
  deadline: 1_700_000_600_000,
  region: 'eu-west',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  priority: -7,
  auditId: '01JCZ0R8Q5W3V7T2N4M6K8H0FD',
};

const MINIMAL: RequestMeta = { requestId: 'r1', route: 'completions', stream: false, routingKey: null, deadline: null, region: null, traceparent: null, priority: 0, auditId: null };

function decode(h: Record<string, string>) {
  return decodeRequestMeta((n) => h[n]);
}

describe('request-meta', () => {
  for (const [what, m] of [
    ['every field', FULL],
    ['only the required fields', MINIMAL],
  ] as const) {
    test(`request-meta - ${what} round-trip`, () => {
      const r = decode(encodeRequestMeta(m));
      assert.ok(r.ok);
      assert.deepEqual(r.value, m);
    });
  }

  test('request-meta - absent optional fields are not sent', () => {
    assert.deepEqual(Object.keys(encodeRequestMeta(MINIMAL)).sort(), [H.requestId, H.route, H.stream].sort());
  });

  const BAD: [string, string, string | undefined][] = [
    ['missing request id', H.requestId, undefined],
    ['request id with a space', H.requestId, 'a b'],
    ['request id too long', H.requestId, 'x'.repeat(257)],
    ['unknown route', H.route, 'embeddings'],
    ['missing route', H.route, undefined],
    ['stream not a boolean', H.stream, 'yes'],
    ['empty routing key', H.routingKey, ''],
    ['routing key too long', H.routingKey, 'k'.repeat(1025)],
    ['deadline not a number', H.deadline, 'soon'],
    ['deadline zero', H.deadline, '0'],
    ['deadline fractional', H.deadline, '1.5'],
    ['region with a dot', H.region, 'eu.west'],
    ['priority not an integer', H.priority, '1.5'],
    ['priority in exponent form', H.priority, '1e3'],
    ['priority out of range', H.priority, '-1000001'],
    ['priority empty', H.priority, ''],
    ['audit id not a ULID', H.auditId, 'req-1'],
  ];
  for (const [what, header, value] of BAD) {
    test(`request-meta - ${what} is rejected`, () => {
      const h = encodeRequestMeta(FULL);
      if (value === undefined) delete h[header];
      else h[header] = value;
      const r = decode(h);
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.reason.length > 0);
    });
  }

  test('request-meta - a malformed traceparent is dropped, not fatal', () => {
    const r = decode({ ...encodeRequestMeta(FULL), [H.traceparent]: 'garbage' });
    assert.ok(r.ok);
    assert.equal(r.value.traceparent, null);
  });
});
