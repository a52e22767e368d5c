import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Admission, type AdmissionClock, type Admitted, type Queued, type Slot } from '../../ingress/admission.ts';
import { requestPriority } from '../../ingress/admit.ts';

/** A clock the test moves by hand: timers fire when `advance` passes them. */
function manualClock(): AdmissionClock & { advance(ms: number): void } {
  let now = 0;
  const timers = new Set<{ at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      const t = { at: now + ms, fn };
      timers.add(t);
      return t;
    },
    clearTimeout: (t) => void timers.delete(t as { at: number; fn: () => void }),
    advance(ms) {
      now += ms;
      for (const t of [...timers].sort((a, b) => a.at - b.at)) {
        if (t.at > now) continue;
        timers.delete(t);
        t.fn();
      }
    },
  };
}

function slotOf(a: Admitted | Queued): Slot {
  assert.ok(!('result' in a) && a.ok, 'admitted at once');
  return a.slot;
}

function queued(a: Admitted | Queued): Queued {
  assert.ok('result' in a, 'queued');
  return a;
}

/** Labels in the order their promises resolved with a slot (each slot released at once). */
async function grantOrder(waiting: readonly [string, Queued][]): Promise<string[]> {
  const order: string[] = [];
  await Promise.all(
    waiting.map(async ([label, q]) => {
      const r = await q.result;
      assert.ok(r.ok, `${label} admitted`);
      order.push(label);
      r.slot.release();
    }),
  );
  return order;
}

describe('ingress admission', () => {
  test('admission - up to maxConcurrent at once, the rest wait and are served as slots free', async () => {
    const clock = manualClock();
    const a = new Admission({ maxConcurrent: 2, queueSize: 10, queueTimeoutMs: 1000 }, clock);
    const s1 = slotOf(a.enter('f', 0));
    slotOf(a.enter('f', 0));
    const q = queued(a.enter('f', 0));
    assert.equal(a.inFlight, 2);
    assert.equal(a.waiting, 1);
    clock.advance(30);
    s1.release();
    const r = await q.result;
    assert.ok(r.ok);
    assert.equal(r.slot.waitedMs, 30);
    assert.equal(a.inFlight, 2);
    assert.equal(a.waiting, 0);
  });

  test('admission - a full queue refuses at once; the queue keeps its order meanwhile', () => {
    const a = new Admission({ maxConcurrent: 1, queueSize: 2, queueTimeoutMs: 60_000 }, manualClock());
    slotOf(a.enter('f', 0));
    queued(a.enter('f', 0));
    queued(a.enter('f', 0));
    const r = a.enter('f', 0);
    assert.ok(!('result' in r) && !r.ok);
    assert.equal(r.why, 'full');
    assert.equal(r.waitedMs, 0);
    assert.equal(a.waiting, 2);
  });

  test('admission - queueSize 0 refuses whenever every slot is taken', () => {
    const a = new Admission({ maxConcurrent: 1, queueSize: 0, queueTimeoutMs: 1000 }, manualClock());
    const s = slotOf(a.enter('f', 0));
    const r = a.enter('f', 0);
    assert.ok(!('result' in r) && !r.ok && r.why === 'full');
    s.release();
    slotOf(a.enter('f', 0));
  });

  test('admission - a request that waits past the timeout is refused and leaves the queue', async () => {
    const clock = manualClock();
    const a = new Admission({ maxConcurrent: 1, queueSize: 5, queueTimeoutMs: 500 }, clock);
    const s = slotOf(a.enter('f', 0));
    const q = queued(a.enter('f', 0));
    clock.advance(499);
    assert.equal(a.waiting, 1);
    clock.advance(1);
    const r = await q.result;
    assert.ok(!r.ok);
    assert.equal(r.why, 'timeout');
    assert.equal(r.waitedMs, 500);
    assert.equal(a.waiting, 0);
    // The slot it never got is still the first holder's; releasing it frees it for a newcomer.
    s.release();
    assert.equal(a.inFlight, 0);
    slotOf(a.enter('f', 0));
  });

  test('admission - a client that leaves while queued is out of the queue, and the next one gets the slot', async () => {
    const a = new Admission({ maxConcurrent: 1, queueSize: 5, queueTimeoutMs: 1000 }, manualClock());
    const s = slotOf(a.enter('f', 0));
    const gone = queued(a.enter('f', 0));
    const next = queued(a.enter('f', 0));
    gone.leave();
    const r = await gone.result;
    assert.ok(!r.ok && r.why === 'closed');
    assert.equal(a.waiting, 1);
    s.release();
    assert.ok((await next.result).ok);
    // Leaving after being admitted changes nothing.
    gone.leave();
    next.leave();
    assert.equal(a.inFlight, 1);
  });

  test('admission - a slot released twice frees one slot', () => {
    const a = new Admission({ maxConcurrent: 2, queueSize: 5, queueTimeoutMs: 1000 }, manualClock());
    const s = slotOf(a.enter('f', 0));
    slotOf(a.enter('f', 0));
    s.release();
    s.release();
    assert.equal(a.inFlight, 1);
  });

  test('admission - a lower priority number is served first, whatever the arrival order', async () => {
    const a = new Admission({ maxConcurrent: 1, queueSize: 10, queueTimeoutMs: 1000 }, manualClock());
    const s = slotOf(a.enter('f', 0));
    const waiting: [string, Queued][] = [
      ['p5', queued(a.enter('f', 5))],
      ['p0', queued(a.enter('f', 0))],
      ['p-3', queued(a.enter('f', -3))],
      ['p0b', queued(a.enter('f', 0))],
    ];
    const order = grantOrder(waiting);
    s.release();
    assert.deepEqual(await order, ['p-3', 'p0', 'p0b', 'p5']);
  });

  test('admission - flows of one priority take turns: a flood does not hold back a polite flow', async () => {
    const a = new Admission({ maxConcurrent: 1, queueSize: 100, queueTimeoutMs: 1000 }, manualClock());
    const s = slotOf(a.enter('flood', 0));
    const waiting: [string, Queued][] = [];
    for (let i = 0; i < 20; i++) waiting.push([`flood-${i}`, queued(a.enter('flood', 0))]);
    waiting.push(['polite', queued(a.enter('polite', 0))]);
    waiting.push(['other', queued(a.enter('other', 0))]);
    const order = grantOrder(waiting);
    s.release();
    const got = await order;
    assert.deepEqual(got.slice(0, 3), ['flood-0', 'polite', 'other']);
    // Within a flow, first come first served.
    assert.deepEqual(
      got.filter((x) => x.startsWith('flood')),
      waiting.filter(([x]) => x.startsWith('flood')).map(([x]) => x),
    );
  });

  test('admission - Retry-After follows how fast the queue drains; a request that would wait past the timeout is refused at once', () => {
    const clock = manualClock();
    const a = new Admission({ maxConcurrent: 1, queueSize: 1000, queueTimeoutMs: 30_000 }, clock);
    assert.equal(a.retryAfterS(), 1);
    // One release a second for a while, then 20 waiting: about 20 s.
    for (let i = 0; i < 30; i++) {
      const s = slotOf(a.enter('f', 0));
      clock.advance(1000);
      s.release();
    }
    slotOf(a.enter('f', 0));
    for (let i = 0; i < 20; i++) queued(a.enter('f', 0));
    const ra = a.retryAfterS();
    assert.ok(ra >= 15 && ra <= 25, String(ra));
    // At about one a second, a place beyond the 30th would wait longer than the 30 s timeout:
    // refused now, though the queue has room for 1000.
    let refused = 0;
    for (let i = 0; i < 200; i++) {
      const r = a.enter('f', 0);
      if (!('result' in r)) {
        assert.ok(!r.ok && r.why === 'full' && r.waitedMs === 0);
        refused++;
      }
    }
    assert.ok(a.waiting >= 25 && a.waiting <= 35, `${a.waiting} waiting`);
    assert.equal(refused, 220 - a.waiting);
    assert.equal(a.retryAfterS(), 30);
    // A more urgent request has fewer ahead of it: it still gets a place.
    queued(a.enter('f', -1));
  });

  test('admission - off (maxConcurrent 0): every request is admitted, nothing is counted', () => {
    const a = new Admission({ maxConcurrent: 0, queueSize: 0, queueTimeoutMs: 1000 }, manualClock());
    for (let i = 0; i < 1000; i++) slotOf(a.enter('f', 0)).release();
    assert.equal(a.enabled, false);
    assert.equal(a.inFlight, 0);
  });

  test("admission - a request's priority: default 0; a key's grant is the most urgent it may ask for", () => {
    assert.deepEqual(requestPriority({}, 0), { priority: 0, clamped: false });
    assert.deepEqual(requestPriority({ priority: null }, -10), { priority: 0, clamped: false });
    assert.deepEqual(requestPriority({ priority: 7 }, 0), { priority: 7, clamped: false });
    assert.deepEqual(requestPriority({ priority: -5 }, 0), { priority: 0, clamped: true });
    assert.deepEqual(requestPriority({ priority: -5 }, -10), { priority: -5, clamped: false });
    assert.deepEqual(requestPriority({ priority: -50 }, -10), { priority: -10, clamped: true });
    for (const bad of ['1', 1.5, Number.NaN, 1e300, true, [], {}])
      assert.throws(
        () => requestPriority({ priority: bad }, 0),
        (e: { code?: string; param?: string }) => e.code === 'LLMR_ERR_INVALID_REQUEST' && e.param === 'priority',
        String(bad),
      );
  });
});
