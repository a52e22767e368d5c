import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { story } from '../../audit/story.ts';
import { byteSize, duration } from '../../cli/parsers.ts';
import { endRecord, firstTokenRecord, INLINE_BODY_BYTES, requestRecord, type AuditedRequest } from '../../ingress/audit-records.ts';
import { decodeAuditBatch, encodeAuditBatch, type AuditRecord } from '../../proto/audit.ts';
import { errors } from '../../proto/errors.ts';

const REQ: AuditedRequest = {
  id: '01JCZ0R8Q5W3V7T2N4M6K8H0FD',
  requestId: 'client-1',
  region: 'eu',
  ingress: 'ingress-1',
  apiKey: 'team-a',
  model: 'm',
  route: '/v1/completions',
  stream: true,
  priority: 0,
  header: (n) => ({ 'user-agent': 'ua', authorization: 'Bearer sk-secret', 'x-session-id': 's1' })[n],
  body: Buffer.from('{"model":"m","prompt":"secret words"}'),
};

describe('audit records', () => {
  test('audit records - the body as --audit-bodies says; credentials never among the headers', () => {
    const none = requestRecord(REQ, 'none', 1);
    assert.deepEqual(none.body, { mode: 'none', bytes: REQ.body.length });
    assert.deepEqual(none.headers, { 'user-agent': 'ua', 'x-session-id': 's1' });
    const hash = requestRecord(REQ, 'hash', 1);
    assert.match(hash.body.sha256 ?? '', /^[0-9a-f]{64}$/);
    assert.equal(hash.body.text, undefined);
    assert.equal(requestRecord(REQ, 'full', 1).body.text, REQ.body.toString());
    const big = requestRecord({ ...REQ, body: Buffer.alloc(INLINE_BODY_BYTES + 1, 120) }, 'full', 1);
    assert.equal(big.body.text, undefined, 'too large to keep inline: hash only');
    assert.ok(big.body.sha256);
    for (const mode of ['none', 'hash'] as const) assert.doesNotMatch(JSON.stringify(requestRecord(REQ, mode, 1)), /secret|sk-/);
  });

  test("audit records - a batch survives the wire; a record its subject's source does not write, or a malformed one, is refused alone", () => {
    const ingressRecords: AuditRecord[] = [
      requestRecord(REQ, 'full', 1000),
      firstTokenRecord(REQ, 12.5, 1013),
      endRecord(REQ, { outcome: { worker: 'w1', usage: { promptTokens: 5, completionTokens: 3 }, streamError: null, clientClosed: false }, error: null, status: 200, e2eMs: 80, at: 1080 }),
    ];
    const back = decodeAuditBatch(encodeAuditBatch('01JCZ0R8Q5W3V7T2N4M6K8H0FE', ingressRecords), 'ingress');
    assert.deepEqual(
      back.map((d) => (d.ok ? d.value : d.reason)),
      ingressRecords,
    );
    // The same records on a scheduler's subject: not its to write.
    for (const d of decodeAuditBatch(encodeAuditBatch('01JCZ0R8Q5W3V7T2N4M6K8H0FE', ingressRecords), 'scheduler')) assert.ok(!d.ok && /does not write them/.test(d.reason));
    const mixed = decodeAuditBatch(Buffer.from(JSON.stringify({ v: 1, batch: 'x', records: [ingressRecords[1], { ...ingressRecords[1], id: 'short' }] })), 'ingress');
    assert.deepEqual(
      mixed.map((d) => d.ok),
      [true, false],
    );
    for (const bad of ['not json', '{"v":2,"records":[]}', '{"v":1}']) assert.equal(decodeAuditBatch(Buffer.from(bad), 'ingress')[0]?.ok, false, bad);
  });

  test('audit records - the end record says why a request ended without an answer', () => {
    const refused = endRecord(REQ, { outcome: null, error: errors.LLMR_ERR_NO_WORKER('m'), status: 200, e2eMs: 3, at: 2 });
    assert.equal(refused.status, 503);
    assert.equal(refused.errorCode, 'LLMR_ERR_NO_WORKER');
    const left = endRecord(REQ, { outcome: { worker: 'w1', usage: null, streamError: null, clientClosed: true }, error: null, status: 200, e2eMs: 3, at: 2 });
    assert.equal(left.errorCode, 'LLMR_ERR_CLIENT_CLOSED');
  });

  test("audit records - a request's story, in the order of its events, says what is missing", () => {
    const s = story([
      endRecord(REQ, {
        outcome: { worker: 'w1', usage: { promptTokens: 5, completionTokens: 3, cachedTokens: 2 }, streamError: null, clientClosed: false },
        error: null,
        status: 200,
        e2eMs: 80,
        at: 1080,
      }),
      requestRecord(REQ, 'hash', 1000),
    ]);
    const lines = s.split('\n');
    assert.match(lines[0]!, /^request client-1 \(audit id 01JCZ0R8Q5W3V7T2N4M6K8H0FD\)/);
    assert.match(lines[1]!, /^\+\s+0 ms {2}request/);
    assert.match(lines[2]!, /^\+\s+80 ms {2}end {10}200 after 80 ms from w1, 5 prompt \+ 3 completion tokens \(2 cached\)/);
    assert.equal(lines[3], '(no decision, first_token record)');
  });

  test('durations and sizes on the command line', () => {
    assert.equal(duration('7d'), 7 * 86_400_000);
    assert.equal(duration('90s'), 90_000);
    assert.equal(duration('1500'), 1500);
    assert.equal(byteSize('10G'), 10 * 1024 ** 3);
    assert.equal(byteSize('512MiB'), 512 * 1024 ** 2);
    assert.equal(byteSize('4096'), 4096);
    for (const bad of ['', '7w', '-1d']) assert.throws(() => duration(bad));
    assert.throws(() => byteSize('ten'));
  });
});
