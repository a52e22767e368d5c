// When a request that failed before its head goes back on the bus, on a clock the test moves:
// router failures twice at most and not near the deadline, "no responders" waited out with
// jittered growing pauses until the accept timeout, the scheduler's own answers never.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RESUBMIT_LIMITS, ResubmitPolicy, type ResubmitClock } from '../../ingress/resubmit-policy.ts';
import { errors, type ErrorCode } from '../../proto/errors.ts';

/** A clock at mono 0, wall 1_000_000, moved by hand; `random` returns `r`. */
function clock(r = 1): ResubmitClock & { advance(ms: number): void } {
  let mono = 0;
  let wall = 1_000_000;
  return {
    mono: () => mono,
    wall: () => wall,
    random: () => r,
    advance(ms) {
      mono += ms;
      wall += ms;
    },
  };
}

const ACCEPT_MS = 1000;
const DEADLINE_IN = 60_000;

function policy(c: ResubmitClock & { wall(): number }): ResubmitPolicy {
  return new ResubmitPolicy(ACCEPT_MS, c.wall() + DEADLINE_IN, c);
}

describe('ingress resubmit policy', () => {
  test('ingress resubmit policy - a lost scheduler or bus is resubmitted twice, then fails', () => {
    for (const code of ['LLMR_ERR_STREAM_BROKEN', 'LLMR_ERR_BUS_UNAVAILABLE'] as const) {
      const c = clock();
      const p = policy(c);
      const e = errors[code]('x');
      assert.deepEqual(p.next(e, false), { kind: 'resubmit', count: 1 }, code);
      assert.deepEqual(p.next(e, false), { kind: 'resubmit', count: 2 }, code);
      assert.deepEqual(p.next(e, false), { kind: 'fail' }, code);
      assert.equal(RESUBMIT_LIMITS.maxResubmits, 2);
    }
  });

  test('ingress resubmit policy - answers and timeouts are final', () => {
    const final: ErrorCode[] = [
      'LLMR_ERR_NO_WORKER',
      'LLMR_ERR_STREAM_IDLE',
      'LLMR_ERR_DEADLINE',
      'LLMR_ERR_UPSTREAM_TIMEOUT',
      'LLMR_ERR_NO_SCHEDULER',
      'LLMR_ERR_SHUTTING_DOWN',
      'LLMR_ERR_BODY_TOO_LARGE',
    ];
    for (const code of final) assert.deepEqual(policy(clock()).next(errors[code]('x'), false), { kind: 'fail' }, code);
  });

  test('ingress resubmit policy - no resubmission when less than an accept timeout is left before the deadline', () => {
    const c = clock();
    const p = policy(c);
    c.advance(DEADLINE_IN - ACCEPT_MS - 1);
    assert.equal(p.next(errors.LLMR_ERR_STREAM_BROKEN('x'), false).kind, 'resubmit');
    c.advance(1);
    assert.deepEqual(p.next(errors.LLMR_ERR_STREAM_BROKEN('x'), false), { kind: 'fail' });
  });

  test('ingress resubmit policy - no responders: pauses grow with jitter up to the cap, within the accept timeout', () => {
    const c = clock(1);
    const p = policy(c);
    const e = errors.LLMR_ERR_NO_SCHEDULER();
    const pauses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const d = p.next(e, true);
      assert.equal(d.kind, 'wait');
      if (d.kind === 'wait') {
        assert.equal(d.count, i + 1);
        pauses.push(d.ms);
      }
    }
    // Each its own at random() = 1: 25 × 2^n, capped at 500 ms.
    assert.deepEqual(pauses, [50, 100, 200, 400, 500, 500]);
    const half = policy(clock(0.5)).next(e, true);
    assert.deepEqual(half, { kind: 'wait', ms: 25, count: 1 });
  });

  test('ingress resubmit policy - no responders: a pause never passes the accept timeout, and past it the request fails', () => {
    const c = clock(1);
    const p = policy(c);
    const e = errors.LLMR_ERR_NO_SCHEDULER();
    c.advance(ACCEPT_MS - 30);
    assert.deepEqual(p.next(e, true), { kind: 'wait', ms: 30, count: 1 });
    assert.ok(p.acceptOpen());
    c.advance(30);
    assert.equal(p.acceptOpen(), false);
    assert.deepEqual(p.next(e, true), { kind: 'fail' });
  });

  test('ingress resubmit policy - waits do not use up the resubmissions for lost schedulers', () => {
    const c = clock();
    const p = policy(c);
    for (let i = 0; i < 5; i++) assert.equal(p.next(errors.LLMR_ERR_NO_SCHEDULER(), true).kind, 'wait');
    assert.deepEqual(p.next(errors.LLMR_ERR_STREAM_BROKEN('x'), false), { kind: 'resubmit', count: 1 });
  });
});
