import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CircuitBreakers, type BreakerState } from '../../scheduler/circuit-breaker.ts';

function breakers(failureThreshold = 3, successThreshold = 2, cooldownMs = 1000) {
  let now = 0;
  const transitions: [string, BreakerState, BreakerState][] = [];
  const b = new CircuitBreakers({ failureThreshold, successThreshold, cooldownMs }, () => now);
  b.onTransition = (id, from, to) => transitions.push([id, from, to]);
  return { b, transitions, advance: (ms: number) => (now += ms) };
}

describe('circuit breaker', () => {
  test('circuit breaker - closed until the failure threshold, then open: no traffic', () => {
    const { b, transitions } = breakers(3);
    b.failure('w');
    b.failure('w');
    assert.equal(b.state('w'), 'closed');
    assert.ok(b.allows('w'));
    b.failure('w');
    assert.equal(b.state('w'), 'open');
    assert.equal(b.allows('w'), false);
    assert.deepEqual(transitions, [['w', 'closed', 'open']]);
  });

  test('circuit breaker - a success resets the consecutive-failure count', () => {
    const { b } = breakers(3);
    b.failure('w');
    b.failure('w');
    b.success('w');
    b.failure('w');
    b.failure('w');
    assert.equal(b.state('w'), 'closed');
  });

  test('circuit breaker - the cooldown half-opens it, with one trial at a time', () => {
    const { b, advance } = breakers(1, 2, 1000);
    b.failure('w');
    advance(999);
    assert.equal(b.state('w'), 'open');
    advance(1);
    assert.equal(b.state('w'), 'half_open');
    assert.ok(b.acquire('w'), 'the trial goes through');
    assert.equal(b.allows('w'), false, 'a second request waits for the trial');
    b.success('w');
    assert.equal(b.state('w'), 'half_open');
    assert.ok(b.acquire('w'));
    b.success('w');
    assert.equal(b.state('w'), 'closed', 'two successes close it');
  });

  test('circuit breaker - a failure in half-open reopens it for another cooldown', () => {
    const { b, advance, transitions } = breakers(1, 2, 1000);
    b.failure('w');
    advance(1000);
    assert.ok(b.acquire('w'));
    b.failure('w');
    assert.equal(b.state('w'), 'open');
    advance(500);
    assert.equal(b.msUntilTrial(['w']), 500);
    assert.deepEqual(
      transitions.map(([, f, t]) => `${f}->${t}`),
      ['closed->open', 'open->half_open', 'half_open->open'],
    );
  });

  test('circuit breaker - a cancelled trial frees the slot', () => {
    const { b, advance } = breakers(1, 1, 10);
    b.failure('w');
    advance(10);
    assert.ok(b.acquire('w'));
    b.release('w');
    assert.ok(b.allows('w'));
  });

  test('circuit breaker - workers are independent', () => {
    const { b } = breakers(1);
    b.failure('a');
    assert.equal(b.state('a'), 'open');
    assert.equal(b.state('b'), 'closed');
    assert.deepEqual([...b.snapshot()], [['a', 'open']]);
    b.forget('a');
    assert.equal(b.state('a'), 'closed');
  });

  test('circuit breaker - invalid options are refused', () => {
    assert.throws(() => new CircuitBreakers({ failureThreshold: 0, successThreshold: 1, cooldownMs: 0 }, () => 0), RangeError);
  });
});

describe('circuit breaker - not closed', () => {
  test('circuit breaker - notClosed lists the open and half-open breakers', () => {
    const { b, advance } = breakers(1, 1, 1000);
    assert.deepEqual([...b.notClosed()], []);
    b.failure('w1');
    b.failure('w2');
    assert.deepEqual([...b.notClosed()].sort(), ['w1', 'w2']);
    advance(1000);
    assert.equal(b.state('w1'), 'half_open');
    assert.deepEqual([...b.notClosed()].sort(), ['w1', 'w2'], 'half-open still counts');
    b.success('w1');
    assert.deepEqual([...b.notClosed()], ['w2']);
    b.forget('w2');
    assert.deepEqual([...b.notClosed()], []);
  });
});
