// The pure steps of a P/D attempt: the plan once the decode worker is chosen, what a worker's
// connector allows, and when a prefill's KV may serve a decode retry.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PD_DEFAULTS } from '../../scheduler/pd/config.ts';
import type { PrefillLoad } from '../../scheduler/pd/decider.ts';
import { reusable, type Prefilled } from '../../scheduler/pd/kv.ts';
import { plan, type Plan, type PlanInput } from '../../scheduler/pd/plan.ts';
import { connectorOf, consumerOnly } from '../../scheduler/pd/workers.ts';
import { workerView } from '../helpers/fixtures.ts';

const idle: PrefillLoad = { waiting: 0, kvUsage: 0.1, inflight: 0, queuedTokens: 0 };
const saturated: PrefillLoad = { ...idle, waiting: PD_DEFAULTS.decider.prefillMaxWaiting };
const LONG: PlanInput = { promptTokens: 2000, cachedOnDecode: 0, decodeQueuedTokens: 0, connector: 'nixl', consumerOnly: false, prefill: [idle] };
const P2P_CONSUMER: PlanInput = { ...LONG, connector: 'p2p-nccl', consumerOnly: true };

describe('pd plan', () => {
  const table: [string, PlanInput, Plan, Plan?][] = [
    // name, input, plan, plan with --pd-strict (when it differs)
    ['a long uncached prompt with an idle prefill worker is disaggregated', LONG, { legs: 'pd', decision: 'disaggregate' }],
    ['a short prompt is computed on the decode worker', { ...LONG, promptTokens: 50 }, { legs: 'whole', decision: 'short_prompt' }],
    ['a prompt cached on the decode worker stays there', { ...LONG, cachedOnDecode: 1990 }, { legs: 'whole', decision: 'short_prompt' }],
    ['a saturated prefill pool: the decode worker computes the prompt', { ...LONG, prefill: [saturated] }, { legs: 'whole', decision: 'prefill_saturated' }],
    ['a prefill pool queued a step beyond the decode worker loses to it', { ...LONG, prefill: [{ ...idle, queuedTokens: 10_000 }] }, { legs: 'whole', decision: 'decode_sooner' }],
    ['no prefill worker: whole on decode; strict refuses', { ...LONG, prefill: [] }, { legs: 'whole', decision: 'no_prefill_worker' }, { legs: 'none', decision: 'no_prefill_worker' }],
    [
      'a decode worker without a connector cannot take KV: whole; strict refuses',
      { ...LONG, connector: null },
      { legs: 'whole', decision: 'no_prefill_worker' },
      { legs: 'none', decision: 'no_prefill_worker' },
    ],
    ['a consumer-only decode worker takes a short prompt disaggregated', { ...P2P_CONSUMER, promptTokens: 5 }, { legs: 'pd', decision: 'disaggregate' }],
    ['a consumer-only decode worker takes a prompt disaggregated even to a saturated pool', { ...P2P_CONSUMER, prefill: [saturated] }, { legs: 'pd', decision: 'disaggregate' }],
    ['a consumer-only decode worker with no prefill worker cannot serve, strict or not', { ...P2P_CONSUMER, prefill: [] }, { legs: 'none', decision: 'no_prefill_worker' }],
    ['a P2P-NCCL `both` worker computes a short prompt itself', { ...LONG, connector: 'p2p-nccl', promptTokens: 5 }, { legs: 'whole', decision: 'short_prompt' }],
  ];
  for (const [name, input, want, strict] of table) {
    test(`pd plan - ${name}`, () => {
      assert.deepEqual(plan(PD_DEFAULTS, input), want);
      assert.deepEqual(plan({ ...PD_DEFAULTS, strict: true }, input), strict ?? want, 'with --pd-strict');
    });
  }
});

describe('pd workers', () => {
  test('pd workers - the connector each worker moves KV with, and which cannot compute a prompt', () => {
    const table: [Parameters<typeof workerView>[1], ReturnType<typeof connectorOf>, boolean][] = [
      [{ role: 'decode', connector: { kind: 'nixl' } }, 'nixl', false],
      [{ role: 'decode', connector: { kind: 'p2p-nccl', zmqAddress: 'd:1' } }, 'p2p-nccl', true],
      [{ role: 'both', connector: { kind: 'p2p-nccl', zmqAddress: 'd:1' } }, 'p2p-nccl', false],
      [{ role: 'prefill', connector: { kind: 'p2p-nccl', zmqAddress: 'p:1' } }, 'p2p-nccl', false],
      [{ role: 'both', connector: { kind: 'none' } }, null, false],
    ];
    for (const [over, connector, consumer] of table) {
      const w = workerView('w', over);
      assert.equal(connectorOf(w), connector, JSON.stringify(over));
      assert.equal(consumerOnly(w), consumer, JSON.stringify(over));
    }
  });
});

describe('pd kv', () => {
  const kv = (connector: Prefilled['connector'], at: number): Prefilled => ({ prefill: workerView('p'), connector, kvTransferParams: {}, requestIdHeader: 'id', cachedTokens: 0, at });
  test('pd kv - NIXL KV serves a decode retry within 80 % of the lease; P2P-NCCL KV never', () => {
    const lease = 30_000;
    assert.equal(reusable(kv('nixl', 1_000), 1_000, lease), true);
    assert.equal(reusable(kv('nixl', 1_000), 1_000 + 24_000, lease), true, 'at 80 % exactly');
    assert.equal(reusable(kv('nixl', 1_000), 1_000 + 24_001, lease), false);
    assert.equal(reusable(kv('p2p-nccl', 1_000), 1_000, lease), false, 'pushed to one decode worker');
  });
});
