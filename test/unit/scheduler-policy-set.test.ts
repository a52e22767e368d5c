import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PolicySet, type PolicyConfig } from '../../scheduler/policy-set.ts';
import type { Candidate } from '../../scheduler/policies/types.ts';
import type { Pool } from '../../scheduler/registry.ts';
import { workerView } from '../helpers/fixtures.ts';

const POOLS: readonly Pool[] = ['whole', 'prefill', 'decode'];

const TYPES: [string, PolicyConfig, string, Record<Pool, string>][] = [
  ['the default for every pool', { policy: 'round_robin' }, 'm', { whole: 'round_robin', prefill: 'round_robin', decode: 'round_robin' }],
  [
    'per-pool overrides',
    { policy: 'power_of_two', prefillPolicy: 'consistent_hash', decodePolicy: 'bounded_load' },
    'm',
    { whole: 'power_of_two', prefill: 'consistent_hash', decode: 'bounded_load' },
  ],
  ['only a prefill override', { policy: 'random', prefillPolicy: 'consistent_hash' }, 'm', { whole: 'random', prefill: 'consistent_hash', decode: 'random' }],
  [
    'a per-model override beats the pool overrides',
    { policy: 'power_of_two', prefillPolicy: 'consistent_hash', decodePolicy: 'bounded_load', modelPolicies: { 'org/special': 'round_robin' } },
    'org/special',
    { whole: 'round_robin', prefill: 'round_robin', decode: 'round_robin' },
  ],
  [
    'other models keep the defaults',
    { policy: 'power_of_two', decodePolicy: 'bounded_load', modelPolicies: { 'org/special': 'round_robin' } },
    'org/other',
    { whole: 'power_of_two', prefill: 'power_of_two', decode: 'bounded_load' },
  ],
  ...['toString', 'constructor', '__proto__', 'hasOwnProperty'].map((model): [string, PolicyConfig, string, Record<Pool, string>] => [
    `a model named ${model} gets the default`,
    { policy: 'random', modelPolicies: { other: 'round_robin' } },
    model,
    { whole: 'random', prefill: 'random', decode: 'random' },
  ]),
];

function cands(n: number): Candidate[] {
  return Array.from({ length: n }, (_, i) => ({ worker: workerView(`w${i}`, { url: `http://w${i}:1`, region: 'r', models: ['m'], kv: { blockSize: 16, numBlocks: 1 } }), inflight: 0 }));
}

describe('policy-set', () => {
  for (const [what, config, model, want] of TYPES) {
    test(`policy-set - ${what}`, () => {
      const s = new PolicySet(config);
      for (const pool of POOLS) {
        assert.equal(s.typeFor(model, pool), want[pool], pool);
        assert.equal(s.get(model, pool).type, want[pool], pool);
      }
    });
  }

  test('policy-set - each pool has its own instance, reused across calls', () => {
    const s = new PolicySet({ policy: 'round_robin' });
    const [w, p, d] = POOLS.map((pool) => s.get('m', pool));
    assert.notEqual(w, p);
    assert.notEqual(p, d);
    assert.notEqual(w, d);
    assert.equal(s.get('m', 'whole'), w);
    assert.equal(s.get('m', 'decode'), d);
  });

  test('policy-set - counters of one pool do not advance another', () => {
    const s = new PolicySet({ policy: 'round_robin' });
    const c = cands(3);
    const ctx = { random: () => 0 };
    const req = { model: 'm', routingKey: null };
    s.get('m', 'prefill').pick(c, req, ctx);
    s.get('m', 'prefill').pick(c, req, ctx);
    assert.equal(s.get('m', 'decode').pick(c, req, ctx)?.worker.id, 'w0');
    assert.equal(s.get('m', 'prefill').pick(c, req, ctx)?.worker.id, 'w2');
  });

  test('policy-set - two sets never share instances', () => {
    const a = new PolicySet({ policy: 'round_robin' });
    const b = new PolicySet({ policy: 'round_robin' });
    assert.notEqual(a.get('m', 'whole'), b.get('m', 'whole'));
  });
});
