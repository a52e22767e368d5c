// The prefix index's hash table of integer pairs, against a Map through random inserts,
// overwrites and deletes (deletion shifts entries back, the part easiest to get wrong).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mulberry32 } from '../helpers/random.ts';
import { PairTable } from '../../scheduler/pair-table.ts';

describe('pair table', () => {
  test('pair table - get, set, overwrite, delete', () => {
    const t = new PairTable(4);
    assert.equal(t.get(1, 2), -1);
    t.set(1, 2, 7);
    t.set(2, 1, 8);
    assert.equal(t.get(1, 2), 7);
    assert.equal(t.get(2, 1), 8, 'the pair is ordered');
    t.set(1, 2, 9);
    assert.equal(t.get(1, 2), 9);
    assert.equal(t.size, 2);
    assert.equal(t.delete(1, 2), true);
    assert.equal(t.delete(1, 2), false);
    assert.equal(t.get(1, 2), -1);
    assert.equal(t.get(2, 1), 8);
    assert.equal(t.size, 1);
    t.set(0xffffffff, 0xffffffff, 0);
    assert.equal(t.get(0xffffffff, 0xffffffff), 0, 'full 32-bit halves and a zero value');
  });

  test('pair table - agrees with a Map through growth and many deletions', () => {
    const r = mulberry32(7);
    const t = new PairTable(16);
    const m = new Map<string, number>();
    // A small key space, so that runs collide and deletions shift entries often.
    for (let i = 0; i < 200_000; i++) {
      const a = Math.floor(r() * 300);
      const b = Math.floor(r() * 40);
      const k = `${a},${b}`;
      const op = r();
      if (op < 0.5) {
        const v = Math.floor(r() * 1e6);
        t.set(a, b, v);
        m.set(k, v);
      } else if (op < 0.8) assert.equal(t.delete(a, b), m.delete(k));
      else assert.equal(t.get(a, b), m.get(k) ?? -1);
    }
    assert.equal(t.size, m.size);
    for (const [k, v] of m) {
      const [a, b] = k.split(',').map(Number);
      assert.equal(t.get(a!, b!), v);
    }
  });
});
