import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stripRouterOwned } from '../../ingress/router-owned.ts';

describe('router-owned', () => {
  test('router-owned - kv_transfer_params and request_id are removed, the rest kept', () => {
    const b: Record<string, unknown> = { model: 'm', prompt: 'p', kv_transfer_params: { do_remote_prefill: true, remote_host: '203.0.113.9' }, request_id: 'mine', user: 'u' };
    assert.deepEqual(stripRouterOwned(b), ['kv_transfer_params', 'request_id']);
    assert.deepEqual(b, { model: 'm', prompt: 'p', user: 'u' });
  });

  test('router-owned - present but null still counts as present', () => {
    const b: Record<string, unknown> = { model: 'm', kv_transfer_params: null };
    assert.deepEqual(stripRouterOwned(b), ['kv_transfer_params']);
    assert.equal('kv_transfer_params' in b, false);
  });

  test('router-owned - vllm_xargs cannot carry kv_transfer_params either', () => {
    const b: Record<string, unknown> = { model: 'm', vllm_xargs: { kv_transfer_params: 'x', other: 1 } };
    assert.deepEqual(stripRouterOwned(b), ['vllm_xargs.kv_transfer_params']);
    assert.deepEqual(b.vllm_xargs, { other: 1 });
  });

  test('router-owned - a clean body is left alone (its bytes can travel as they came)', () => {
    const b: Record<string, unknown> = { model: 'm', messages: [], vllm_xargs: { a: 1 }, metadata: { request_id: 'inner is fine' } };
    const copy = structuredClone(b);
    assert.deepEqual(stripRouterOwned(b), []);
    assert.deepEqual(b, copy);
  });

  test('router-owned - an inherited name is not an own field', () => {
    const b = JSON.parse('{"model":"m","__proto__":{"kv_transfer_params":1}}') as Record<string, unknown>;
    assert.deepEqual(stripRouterOwned(b), []);
  });
});
