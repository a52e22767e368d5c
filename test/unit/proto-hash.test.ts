import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hash64, hash64Hex } from '../../proto/hash.ts';

describe('hash', () => {
  test('hash - XXH64 of known inputs', () => {
    // Reference values of XXH64 with seed 0.
    assert.equal(hash64Hex(''), 'ef46db3751d8e999');
    assert.equal(hash64(''), 0xef46db3751d8e999n);
    assert.equal(hash64Hex('a'), 'd24ec4f1a98c6e5b');
  });

  test('hash - stable, 16 hex digits, seed changes the value', () => {
    assert.equal(hash64('session:abc'), hash64('session:abc'));
    assert.notEqual(hash64('session:abc'), hash64('session:abd'));
    assert.notEqual(hash64('x', 1n), hash64('x'));
    for (const s of ['', 'x', 'ünïcödé', 'a'.repeat(10_000)]) assert.match(hash64Hex(s), /^[0-9a-f]{16}$/);
    assert.equal(BigInt(`0x${hash64Hex('k')}`), hash64('k'));
  });
});
