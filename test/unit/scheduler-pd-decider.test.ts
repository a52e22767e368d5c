import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DECIDER_DEFAULTS, DECISIONS, decide, type DeciderConfig, type PrefillLoad } from '../../scheduler/pd/decider.ts';

const C: DeciderConfig = { thresholdTokens: 128, prefillMaxWaiting: 16, prefillMaxKvUsage: 0.95, localMarginTokens: 8192 };
const idle: PrefillLoad = { waiting: 0, kvUsage: 0.1, inflight: 0, queuedTokens: 0 };

test('pd decider - defaults: llm-d-like threshold, saturation limits, and a margin of one full prefill step', () => {
  assert.deepEqual({ ...DECIDER_DEFAULTS }, C);
  assert.ok(Object.isFrozen(DECIDER_DEFAULTS));
  assert.deepEqual([...DECISIONS], ['disaggregate', 'short_prompt', 'prefill_saturated', 'decode_sooner', 'no_prefill_worker']);
});

test('pd decider - no prefill worker, whatever the prompt', () => {
  assert.equal(decide(C, 5000, 0, []), 'no_prefill_worker');
});

test('pd decider - a prompt mostly cached on the decode worker stays there', () => {
  assert.equal(decide(C, 100, 0, [idle]), 'short_prompt');
  assert.equal(decide(C, 2000, 1900, [idle]), 'short_prompt', '100 uncached tokens are below the threshold');
  assert.equal(decide(C, 2000, 1872, [idle]), 'disaggregate', 'exactly the threshold uncached goes to a prefill worker');
});

test('pd decider - when every prefill worker is saturated (queue or KV) the decode worker computes the prompt', () => {
  assert.equal(
    decide(C, 2000, 0, [
      { ...idle, waiting: 10, inflight: 6 },
      { ...idle, kvUsage: 0.96 },
    ]),
    'prefill_saturated',
  );
  assert.equal(decide(C, 2000, 0, [{ ...idle, waiting: 10, inflight: 6 }, idle]), 'disaggregate', 'one with room is enough');
});

test('pd decider - a prefill pool queued a full step beyond the decode worker loses to it', () => {
  const backed = (t: number): PrefillLoad => ({ ...idle, queuedTokens: t });
  assert.equal(decide(C, 2000, 0, [backed(9000), backed(12_000)], 0), 'decode_sooner');
  assert.equal(decide(C, 2000, 0, [backed(9000), backed(12_000)], 1000), 'disaggregate', 'the decode worker has its own queue');
  assert.equal(decide(C, 2000, 0, [backed(9000), backed(100)], 0), 'disaggregate', 'the shortest prefill queue counts');
  assert.equal(decide(C, 2000, 0, [backed(8192)], 0), 'disaggregate', 'exactly the margin still disaggregates');
  // Saturated workers do not count as the shortest queue.
  assert.equal(decide(C, 2000, 0, [{ ...backed(0), waiting: 20 }, backed(20_000)], 0), 'decode_sooner');
  // Without the router's token load (older replicas) nothing is queued.
  assert.equal(decide(C, 2000, 0, [{ waiting: 0, kvUsage: 0, inflight: 3 }], 0), 'disaggregate');
  assert.equal(decide({ ...C, localMarginTokens: null }, 2000, 0, [backed(1e9)], 0), 'disaggregate', 'null turns the rule off');
});
