import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, checkFaultPatch, NO_FAULTS, parseFaultHeader, requestFaults, type FaultState, type RequestFaults } from '../../sim/faults.ts';

const never = (): number => {
  throw new Error('random() must not be called');
};

function faults(overrides: Partial<FaultState> = {}): FaultState {
  return { ...NO_FAULTS, ...overrides };
}

describe('faults', () => {
  const accepted: [string, string | undefined, Partial<RequestFaults>][] = [
    ['no header', undefined, {}],
    ['an empty header', '', {}],
    ['the full example', 'error=503, latency=200, hang, die-after=3', { errorStatus: 503, latencyMs: 200, hang: true, dieAfterTokens: 3 }],
    ['one directive', 'hang', { hang: true }],
    ['extra spaces and empty parts', ' error = 429 ,, latency=0 , ', { errorStatus: 429, latencyMs: 0 }],
    ['fractional latency', 'latency=12.5', { latencyMs: 12.5 }],
    ['die-after=0', 'die-after=0', { dieAfterTokens: 0 }],
    ['the lowest status', 'error=400', { errorStatus: 400 }],
    ['the highest status', 'error=599', { errorStatus: 599 }],
    ['a repeated directive (the last one wins)', 'latency=5, latency=9', { latencyMs: 9 }],
  ];
  for (const [name, header, expected] of accepted) {
    test(`faults - parseFaultHeader accepts ${name}`, () => {
      const r = parseFaultHeader(header);
      assert.equal(r.ok, true);
      if (r.ok) assert.deepEqual(r.value, expected);
    });
  }

  const junk: [string, string][] = [
    ['an unknown directive', 'explode'],
    ['a typo', 'lantency=200'],
    ['an error status below 400', 'error=302'],
    ['an error status above 599', 'error=600'],
    ['a fractional error status', 'error=503.5'],
    ['a non-numeric error', 'error=oops'],
    ['a negative latency', 'latency=-1'],
    ['a non-numeric latency', 'latency=soon'],
    ['an infinite latency', 'latency=Infinity'],
    ['a negative die-after', 'die-after=-1'],
    ['a fractional die-after', 'die-after=1.5'],
    ['hang with an argument', 'hang=1'],
    ['error without a value', 'error'],
    ['an empty die-after value', 'die-after='],
    ['an empty latency value', 'latency='],
    ['trailing junk after a value', 'error=503=x'],
    ['one bad part among good ones', 'error=503, bogus, hang'],
  ];
  for (const [name, header] of junk) {
    test(`faults - parseFaultHeader rejects ${name}`, () => {
      const r = parseFaultHeader(header);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.message, /x-sim-fault/);
    });
  }

  test('faults - requestFaults with no faults anywhere is clean and does not draw', () => {
    assert.deepEqual(requestFaults(faults(), {}, never), { errorStatus: null, latencyMs: 0, hang: false, dieAfterTokens: null });
  });

  test('faults - requestFaults injects the worker error when the draw falls under errorRate', () => {
    const state = faults({ errorRate: 0.3, errorStatus: 502 });
    assert.equal(requestFaults(state, {}, () => 0.29).errorStatus, 502);
    assert.equal(requestFaults(state, {}, () => 0.3).errorStatus, null);
    assert.equal(requestFaults(state, {}, () => 0.99).errorStatus, null);
  });

  test('faults - errorRate 1 always fails', () => {
    const state = faults({ errorRate: 1, errorStatus: 500 });
    for (const r of [0, 0.5, 0.999999]) assert.equal(requestFaults(state, {}, () => r).errorStatus, 500);
  });

  test('faults - a header error wins over the worker error rate', () => {
    const state = faults({ errorRate: 1, errorStatus: 500 });
    assert.equal(requestFaults(state, { errorStatus: 429 }, () => 0).errorStatus, 429);
    assert.equal(requestFaults(faults(), { errorStatus: 503 }, never).errorStatus, 503);
  });

  test('faults - header latency adds to the worker latency', () => {
    assert.equal(requestFaults(faults({ latencyMs: 100 }), { latencyMs: 50 }, never).latencyMs, 150);
    assert.equal(requestFaults(faults({ latencyMs: 100 }), {}, never).latencyMs, 100);
  });

  test('faults - header hang and die-after override the worker state', () => {
    const state = faults({ hang: true, dieAfterTokens: 10 });
    assert.deepEqual(requestFaults(state, {}, never), { errorStatus: null, latencyMs: 0, hang: true, dieAfterTokens: 10 });
    const r = requestFaults(state, { hang: false, dieAfterTokens: 2 }, never);
    assert.equal(r.hang, false);
    assert.equal(r.dieAfterTokens, 2);
    assert.equal(requestFaults(faults(), { hang: true, dieAfterTokens: 0 }, never).dieAfterTokens, 0);
  });

  test('faults - a parsed header feeds requestFaults', () => {
    const h = parseFaultHeader('latency=200, die-after=3');
    assert.ok(h.ok);
    if (!h.ok) return;
    assert.deepEqual(requestFaults(faults({ latencyMs: 5 }), h.value, never), { errorStatus: null, latencyMs: 205, hang: false, dieAfterTokens: 3 });
  });

  test('faults - applyPatch sets only the given fields and leaves the input untouched', () => {
    const before = faults({ latencyMs: 7, errorRate: 0.1 });
    const after = applyPatch(before, { hang: true, errorStatus: 503 }, 0);
    assert.deepEqual(after, { ...before, hang: true, errorStatus: 503 });
    assert.equal(before.hang, false);
    assert.equal(before.errorStatus, 500);
  });

  test('faults - applyPatch turns slowStartMs into a deadline from now', () => {
    assert.equal(applyPatch(faults(), { slowStartMs: 2000 }, 1000).slowStartUntil, 3000);
  });

  test('faults - applyPatch can clear dieAfterTokens with null', () => {
    assert.equal(applyPatch(faults({ dieAfterTokens: 4 }), { dieAfterTokens: null }, 0).dieAfterTokens, null);
  });

  test('faults - applyPatch with reset clears every fault first, then applies the rest', () => {
    const messy = faults({ errorRate: 1, errorStatus: 502, latencyMs: 300, hang: true, dieAfterTokens: 1, dead: true, slowStartUntil: 99 });
    assert.deepEqual(applyPatch(messy, { reset: true }, 50), NO_FAULTS);
    assert.deepEqual(applyPatch(messy, { reset: true, latencyMs: 20 }, 50), { ...NO_FAULTS, latencyMs: 20 });
  });

  test('faults - NO_FAULTS is frozen, so a reset cannot be corrupted', () => {
    assert.ok(Object.isFrozen(NO_FAULTS));
    const s = applyPatch(NO_FAULTS, { reset: true }, 0);
    s.hang = true;
    assert.equal(NO_FAULTS.hang, false);
  });

  const patches: [string, unknown, boolean][] = [
    ['an empty patch', {}, true],
    ['a full patch', { errorRate: 0.5, errorStatus: 503, latencyMs: 10, hang: false, dieAfterTokens: null, dead: false, slowStartMs: 0, crash: true, crashForMs: 100, reset: true }, true],
    ['an unknown field', { explode: true }, false],
    ['errorRate above 1', { errorRate: 1.5 }, false],
    ['a 302 status', { errorStatus: 302 }, false],
    ['a negative latency', { latencyMs: -1 }, false],
    ['a fractional dieAfterTokens', { dieAfterTokens: 1.5 }, false],
  ];
  for (const [name, patch, valid] of patches) {
    test(`faults - checkFaultPatch ${valid ? 'accepts' : 'rejects'} ${name}`, () => {
      assert.equal(checkFaultPatch.Check(patch), valid);
    });
  }
});
