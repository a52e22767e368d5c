import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkSyncMessage, type SyncMessage } from '../../proto/sched-sync.ts';
import { InflightTracker } from '../../scheduler/inflight.ts';

function clock(start = 50_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number): void => {
      t += ms;
    },
  };
}

const msg = (from: string, full: boolean, counts: Record<string, number>, sentAt = 0): SyncMessage => ({ from, full, counts, sentAt });

describe('inflight', () => {
  test('inflight - local counts go up and down and never below zero', () => {
    const t = new InflightTracker('s1', clock().now);
    t.inc('w1');
    t.inc('w1');
    t.inc('w2');
    assert.equal(t.local('w1'), 2);
    assert.equal(t.total('w1'), 2);
    t.dec('w1');
    t.dec('w2');
    t.dec('w2');
    assert.equal(t.local('w1'), 1);
    assert.equal(t.local('w2'), 0);
    assert.equal(t.local('never'), 0);
  });

  test('inflight - snapshots carry changed workers, or everything when full', () => {
    const c = clock();
    const t = new InflightTracker('s1', c.now);
    assert.equal(t.hasChanges, false);
    t.inc('w1');
    t.inc('w2');
    assert.equal(t.hasChanges, true);
    assert.deepEqual(t.snapshot(false), { from: 's1', full: false, counts: { w1: 1, w2: 1 }, tokens: { w1: [0, 0], w2: [0, 0] }, sentAt: c.now() });
    assert.equal(t.hasChanges, false);
    t.dec('w2');
    assert.deepEqual(t.snapshot(false).counts, { w2: 0 }, 'a worker that dropped to 0 is sent as 0');
    t.inc('w3');
    c.advance(10);
    assert.deepEqual(t.snapshot(true), { from: 's1', full: true, counts: { w1: 1, w3: 1 }, tokens: { w1: [0, 0], w3: [0, 0] }, sentAt: c.now() });
    assert.ok(checkSyncMessage(t.snapshot(true)), 'a snapshot is a valid sync message');
  });

  test('inflight - totals add every peer to the local count', () => {
    const t = new InflightTracker('s1', clock().now);
    t.inc('w1');
    t.apply(msg('s2', false, { w1: 3, w2: 1 }));
    t.apply(msg('s3', false, { w1: 2 }));
    assert.equal(t.total('w1'), 6);
    assert.equal(t.total('w2'), 1);
    assert.equal(t.local('w1'), 1);
    t.apply(msg('s2', false, { w1: 0 }));
    assert.equal(t.total('w1'), 3);
    assert.deepEqual(t.peers().sort(), ['s2', 's3']);
  });

  test('inflight - counts are absolute: a duplicated message does not double', () => {
    const t = new InflightTracker('s1', clock().now);
    const m = msg('s2', false, { w1: 4 });
    t.apply(m);
    t.apply(m);
    assert.equal(t.total('w1'), 4);
  });

  test('inflight - a full snapshot replaces the peer’s counts', () => {
    const t = new InflightTracker('s1', clock().now);
    t.apply(msg('s2', false, { w1: 3, w2: 2, w3: 1 }));
    t.apply(msg('s3', false, { w1: 1 }));
    t.apply(msg('s2', true, { w2: 5 }));
    assert.equal(t.total('w1'), 1, 's2’s w1 is gone, s3’s stays');
    assert.equal(t.total('w2'), 5);
    assert.equal(t.total('w3'), 0);
    t.apply(msg('s2', true, {}));
    assert.equal(t.total('w2'), 0);
    assert.equal(t.total('w1'), 1);
  });

  test('inflight - a full snapshot clears workers whose ids are Object.prototype names', () => {
    const t = new InflightTracker('s1', clock().now);
    const names = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'];
    const counts = JSON.parse(`{${names.map((n) => `"${n}":2`).join(',')}}`) as Record<string, number>;
    t.apply(msg('s2', false, counts));
    for (const n of names) assert.equal(t.total(n), 2, n);
    t.apply(msg('s2', true, {}));
    for (const n of names) assert.equal(t.total(n), 0, n);
  });

  test('inflight - a delta only touches the workers it names', () => {
    const t = new InflightTracker('s1', clock().now);
    t.apply(msg('s2', false, { w1: 3, w2: 2 }));
    t.apply(msg('s2', false, { w2: 7 }));
    assert.equal(t.total('w1'), 3);
    assert.equal(t.total('w2'), 7);
  });

  test('inflight - its own messages are ignored', () => {
    const t = new InflightTracker('s1', clock().now);
    t.inc('w1');
    t.apply(t.snapshot(true));
    t.apply(msg('s1', false, { w1: 50 }));
    assert.equal(t.total('w1'), 1);
    assert.deepEqual(t.peers(), []);
  });

  test('inflight - a peer that goes quiet is forgotten with its counts', () => {
    const c = clock();
    const t = new InflightTracker('s1', c.now, 3000);
    t.apply(msg('s2', false, { w1: 3 }));
    t.apply(msg('s3', false, { w1: 1 }));
    c.advance(2000);
    t.apply(msg('s3', false, {}));
    c.advance(1000);
    assert.deepEqual(t.expire(), [], 'exactly the TTL is still alive');
    c.advance(1);
    assert.deepEqual(t.expire(), ['s2']);
    assert.equal(t.total('w1'), 1);
    assert.deepEqual(t.peers(), ['s3']);
    c.advance(2000);
    assert.deepEqual(t.expire(), ['s3']);
    assert.equal(t.total('w1'), 0);
    t.apply(msg('s2', false, { w1: 2 }));
    assert.equal(t.total('w1'), 2, 'a forgotten peer that speaks again is counted again');
  });

  test("inflight - a request's prompt tokens count until its first byte, then its KV while it decodes", () => {
    const t = new InflightTracker('s1', clock().now);
    const a = t.start('w1', 1000, 1200);
    assert.deepEqual(t.tokens('w1'), { prefill: 1000, decode: 0 });
    assert.equal(t.total('w1'), 1);
    const b = t.start('w1', 0, 500);
    assert.deepEqual(t.tokens('w1'), { prefill: 1000, decode: 500 }, 'nothing to prefill: its KV counts at once');
    a.prefillDone();
    a.prefillDone();
    assert.deepEqual(t.tokens('w1'), { prefill: 0, decode: 1700 }, 'prefillDone moves the request once');
    a.end();
    a.end();
    assert.deepEqual(t.tokens('w1'), { prefill: 0, decode: 500 });
    assert.equal(t.total('w1'), 1);
    b.end();
    assert.deepEqual(t.tokens('w1'), { prefill: 0, decode: 0 });
    assert.equal(t.total('w1'), 0);
    const c = t.start('w1', 300, 300);
    c.end();
    assert.deepEqual(t.tokens('w1'), { prefill: 0, decode: 0 }, 'a call that ends before its first byte takes its prefill away');
    assert.deepEqual(t.tokens('never'), { prefill: 0, decode: 0 });
  });

  test('inflight - token loads travel in sync messages and add up across replicas', () => {
    const c = clock();
    const s1 = new InflightTracker('s1', c.now);
    const s2 = new InflightTracker('s2', c.now);
    const h = s1.start('w1', 800, 900);
    s2.apply(s1.snapshot(false));
    s2.start('w1', 100, 100);
    assert.deepEqual(s2.tokens('w1'), { prefill: 900, decode: 0 });
    assert.equal(s2.total('w1'), 2);
    h.prefillDone();
    s2.apply(s1.snapshot(false));
    assert.deepEqual(s2.tokens('w1'), { prefill: 100, decode: 900 });
    h.end();
    s2.apply(s1.snapshot(true));
    assert.deepEqual(s2.tokens('w1'), { prefill: 100, decode: 0 });
    // A replica of an older version sends counts only: its requests count, with no tokens.
    s2.apply(msg('old', false, { w1: 3 }));
    assert.equal(s2.total('w1'), 4);
    assert.deepEqual(s2.tokens('w1'), { prefill: 100, decode: 0 });
    c.advance(5000);
    s2.expire();
    assert.equal(s2.total('w1'), 1, 'quiet replicas are forgotten with their load');
  });
});

describe('inflight cells', () => {
  test('inflight cells - a held cell follows total and tokens, local and remote, until its last holder releases it', () => {
    const t = new InflightTracker('s1', clock().now);
    const h = t.start('w1', 100, 40);
    const c = t.holdCell('w1');
    const same = (): void => {
      assert.equal(c.requests, t.total('w1'));
      assert.deepEqual({ prefill: c.prefill, decode: c.decode }, t.tokens('w1'));
    };
    same();
    h.prefillDone();
    same();
    t.apply({ from: 's2', full: true, counts: { w1: 3 }, tokens: { w1: [7, 9] }, sentAt: 0 });
    same();
    assert.equal(c.requests, 4);
    assert.equal(t.holdCell('w1'), c, 'one cell per worker');
    h.end();
    t.releaseCell('w1');
    same();
    t.apply({ from: 's2', full: true, counts: {}, sentAt: 0 });
    same();
    assert.equal(c.requests, 0);
    t.releaseCell('w1');
    t.inc('w1');
    assert.equal(c.requests, 0, 'released: no longer kept');
    const again = t.holdCell('w1');
    assert.notEqual(again, c);
    assert.equal(again.requests, 1, 'a new cell starts from the current figures');
  });

  test('inflight cells - the sum a holder gives follows the request counts of the cells it holds', () => {
    const t = new InflightTracker('s1', clock().now);
    t.inc('w1');
    const sum = { requests: 0 };
    for (const w of ['w1', 'w2']) sum.requests += t.holdCell(w, sum).requests;
    assert.equal(sum.requests, 1);
    t.inc('w2');
    t.start('w2', 5, 5).end();
    t.apply({ from: 's2', full: true, counts: { w1: 2, w3: 9 }, sentAt: 0 });
    assert.equal(sum.requests, t.total('w1') + t.total('w2'));
    t.releaseCell('w2', sum);
    t.inc('w2');
    assert.equal(sum.requests, 4, 'a released cell no longer counts');
  });
});
