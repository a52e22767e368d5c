import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planReplay, summarize, usageOf, type Sent } from '../../audit/replay.ts';
import { endRecord, firstTokenRecord, requestRecord, type AuditedRequest } from '../../ingress/audit-records.ts';

function req(n: number, o: Partial<AuditedRequest> = {}): AuditedRequest {
  return {
    id: `01JCZ0R8Q5W3V7T2N4M6K8H0${String(n).padStart(2, '0')}`,
    requestId: `r${n}`,
    region: 'eu',
    ingress: 'ingress-1',
    apiKey: 'a',
    model: 'm',
    route: '/v1/completions',
    stream: false,
    priority: 0,
    header: () => undefined,
    body: Buffer.from(`{"model":"m","prompt":"${n}"}`),
    ...o,
  };
}

describe('replay', () => {
  test('replay - the plan keeps requests with their bodies, in arrival order, at their gaps divided by the speed', () => {
    const a = req(10);
    const b = req(11, { model: 'other' });
    const c = req(12);
    const records = [
      requestRecord(c, 'full', 3000),
      requestRecord(a, 'full', 1000),
      requestRecord(b, 'full', 2000),
      requestRecord(req(13), 'hash', 2500),
      firstTokenRecord(a, 40, 1040),
      endRecord(a, { outcome: { worker: 'w', usage: { promptTokens: 4, completionTokens: 9 }, streamError: null, clientClosed: false }, error: null, status: 200, e2eMs: 90, at: 1090 }),
    ];
    const plan = planReplay(records, {}, 2);
    assert.deepEqual(
      plan.items.map((i) => [i.id, i.offsetMs]),
      [
        [a.id, 0],
        [b.id, 500],
        [c.id, 1000],
      ],
    );
    assert.equal(plan.withoutBody, 1);
    assert.deepEqual(plan.items[0]!.recorded, { status: 200, ttftMs: 40, e2eMs: 90, promptTokens: 4, completionTokens: 9 });
    assert.equal(plan.items[2]!.recorded, null);
    const onlyM = planReplay(records, { model: 'm', status: 200 }, 1);
    assert.deepEqual(
      onlyM.items.map((i) => i.id),
      [a.id],
    );
    assert.equal(onlyM.filteredOut, 3);
  });

  test('replay - usage from a JSON answer or from the last SSE event that has one', () => {
    assert.deepEqual(usageOf('{"usage":{"prompt_tokens":3,"completion_tokens":5}}'), { promptTokens: 3, completionTokens: 5 });
    assert.deepEqual(usageOf('data: {"choices":[]}\n\ndata: {"usage":{"prompt_tokens":2,"completion_tokens":1}}\n\ndata: [DONE]\n\n'), { promptTokens: 2, completionTokens: 1 });
    assert.deepEqual(usageOf('data: {"choices":[]}\n\n'), { promptTokens: null, completionTokens: null });
  });

  test('replay - the summary counts statuses and changes, and how late the sends were against their plan', () => {
    const ok = (status: number) => ({ status, ttftMs: 10, e2eMs: 20, promptTokens: 1, completionTokens: 1 });
    const sent: Sent[] = [
      { id: 'a', dueMs: 0, sentMs: 1, replay: ok(200), recorded: ok(200) },
      { id: 'b', dueMs: 100, sentMs: 103, replay: ok(503), recorded: ok(200) },
      { id: 'c', dueMs: 200, sentMs: 201, replay: { error: 'timeout' }, recorded: ok(200) },
    ];
    const s = summarize(sent);
    assert.deepEqual(s.statuses, { '200': 1, '503': 1, error: 1 });
    assert.equal(s.statusChanged, 2);
    assert.equal(s.interArrivalError, 0.02);
  });
});
