import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { blockHashes, saltOf, seedOf } from '../../sim/block-hash.ts';

const BS = 16;
const tokens = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('block-hash', () => {
  test('block-hash - one hash per full block; a partial last block has none', () => {
    const cases: [number, number][] = [
      [0, 0],
      [15, 0],
      [16, 1],
      [17, 1],
      [47, 2],
      [48, 3],
    ];
    for (const [n, blocks] of cases) assert.equal(blockHashes(tokens(n), BS).length, blocks, `${n} tokens`);
  });

  test('block-hash - equal tokens give equal hashes', () => {
    assert.deepEqual(blockHashes(tokens(64), BS), blockHashes(tokens(64), BS));
  });

  test('block-hash - equal prefixes give equal leading hashes', () => {
    const a = blockHashes([...tokens(48), 1000, 1001], BS);
    const b = blockHashes([...tokens(48), ...tokens(40, 5000)], BS);
    assert.deepEqual(a.slice(0, 3), b.slice(0, 3));
    assert.equal(b.length, 5);
  });

  test('block-hash - hashes within one sequence differ from block to block', () => {
    const same = new Array<number>(64).fill(7); // identical token content in every block
    const h = blockHashes(same, BS);
    assert.equal(new Set(h).size, h.length);
  });

  for (const k of [0, 1, 3]) {
    test(`block-hash - a change in block ${k} changes hashes ${k}.. and none before`, () => {
      const base = tokens(5 * BS);
      const changed = base.slice();
      changed[k * BS + 5] = 99_999;
      const a = blockHashes(base, BS);
      const b = blockHashes(changed, BS);
      for (let i = 0; i < a.length; i++) {
        if (i < k) assert.equal(a[i], b[i], `block ${i} must be unchanged`);
        else assert.notEqual(a[i], b[i], `block ${i} must change`);
      }
    });
  }

  test('block-hash - a block is only reused after an identical prefix (chained hashes)', () => {
    // Same second block, different first block: the second hashes differ too.
    const a = blockHashes([...tokens(BS, 1), ...tokens(BS, 500)], BS);
    const b = blockHashes([...tokens(BS, 2), ...tokens(BS, 500)], BS);
    assert.notEqual(a[1], b[1]);
  });

  test('block-hash - large token ids (special tokens) hash distinctly', () => {
    const a = tokens(BS);
    const b = a.slice();
    b[0] = 2 ** 34; // a special-token id
    const c = a.slice();
    c[0] = 2 ** 34 + 1;
    const ha = blockHashes(a, BS)[0];
    const hb = blockHashes(b, BS)[0];
    const hc = blockHashes(c, BS)[0];
    assert.equal(new Set([ha, hb, hc]).size, 3);
  });

  test('block-hash - the block size is part of the result', () => {
    const t = tokens(32);
    assert.notEqual(blockHashes(t, 16)[0], blockHashes(t, 32)[0]);
  });

  test('block-hash - a salt isolates caches: no hash is shared with the unsalted or another salt', () => {
    const t = tokens(64);
    const plain = blockHashes(t, BS);
    const s1 = blockHashes(t, BS, saltOf('tenant-a'));
    const s2 = blockHashes(t, BS, saltOf('tenant-b'));
    const all = [...plain, ...s1, ...s2];
    assert.equal(new Set(all).size, all.length);
    assert.deepEqual(blockHashes(t, BS, saltOf('tenant-a')), s1);
  });

  test('block-hash - saltOf is deterministic, distinct per string, and never the unsalted 0n', () => {
    assert.equal(saltOf('x'), saltOf('x'));
    assert.notEqual(saltOf('x'), saltOf('y'));
    for (const s of ['', 'a', 'tenant-a', '🚀']) assert.notEqual(saltOf(s), 0n);
  });

  test('block-hash - seedOf is a deterministic 32-bit value', () => {
    assert.equal(seedOf('hello'), seedOf('hello'));
    assert.notEqual(seedOf('hello'), seedOf('hellp'));
    for (const s of ['', 'hello', '你好']) {
      const v = seedOf(s);
      assert.ok(Number.isInteger(v) && v >= 0 && v < 2 ** 32, String(v));
    }
  });
});
