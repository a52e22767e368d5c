import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HashRing, RingCache } from '../../scheduler/policies/hash-ring.ts';

const workers = (n: number, prefix = 'w'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const keys = (n: number): string[] => Array.from({ length: n }, (_, i) => `session:${i}`);

/** key → owning worker id. */
function owners(ring: HashRing, ks: readonly string[]): Map<string, string> {
  return new Map(ks.map((k) => [k, ring.ids[ring.lookup(k)]!]));
}

describe('hash-ring', () => {
  test('hash-ring - has one point per virtual node', () => {
    assert.equal(new HashRing(workers(10), 160).size, 1600);
    assert.equal(new HashRing(workers(1), 1).size, 1);
  });

  test('hash-ring - lookups are deterministic, across calls and across rings built apart', () => {
    const a = new HashRing(workers(10), 160);
    const b = new HashRing(workers(10), 160);
    for (const k of keys(500)) {
      assert.equal(a.lookup(k), a.lookup(k));
      assert.equal(a.lookup(k), b.lookup(k));
    }
  });

  test('hash-ring - the owner of a key does not depend on the order of the ids', () => {
    const ids = workers(10);
    const a = new HashRing(ids, 160);
    const b = new HashRing([...ids].reverse(), 160);
    assert.deepEqual(owners(a, keys(2000)), owners(b, keys(2000)));
  });

  test('hash-ring - a single worker owns every key', () => {
    const r = new HashRing(['only'], 8);
    for (const k of keys(100)) assert.equal(r.lookup(k), 0);
  });

  test('hash-ring - positions are in range and ownerAt wraps', () => {
    const r = new HashRing(workers(3), 4);
    for (const k of keys(200)) {
      const p = r.position(k);
      assert.ok(Number.isInteger(p) && p >= 0 && p < r.size);
      assert.equal(r.ownerAt(p), r.ownerAt(p + r.size));
      assert.equal(r.ownerAt(p), r.ownerAt(p + 5 * r.size));
    }
  });

  test('hash-ring - with 160 virtual nodes keys spread roughly evenly', () => {
    const n = 10;
    const r = new HashRing(workers(n), 160);
    const counts = new Array<number>(n).fill(0);
    const N = 20_000;
    for (const k of keys(N)) counts[r.lookup(k)]!++;
    for (const c of counts) {
      assert.ok(c > (0.6 * N) / n && c < (1.4 * N) / n, `share ${c} of ${N}`);
    }
  });

  test('hash-ring - a leaving worker moves only its own keys', () => {
    const ids = workers(10);
    const before = owners(new HashRing(ids, 160), keys(5000));
    const after = owners(
      new HashRing(
        ids.filter((w) => w !== 'w3'),
        160,
      ),
      keys(5000),
    );
    for (const [k, w] of before) {
      if (w !== 'w3') assert.equal(after.get(k), w, `${k} moved from ${w}`);
      else assert.notEqual(after.get(k), 'w3');
    }
  });

  test('hash-ring - a joining worker takes about 1/(n+1) of the keys, only from others', () => {
    const ids = workers(10);
    const N = 10_000;
    const before = owners(new HashRing(ids, 160), keys(N));
    const after = owners(new HashRing([...ids, 'w10'], 160), keys(N));
    let moved = 0;
    for (const [k, w] of before) {
      const now = after.get(k)!;
      if (now !== w) {
        moved++;
        assert.equal(now, 'w10', 'a key only moves to the newcomer');
      }
    }
    assert.ok(moved > N * 0.05 && moved < N * 0.15, `${moved} of ${N} moved`);
  });

  test('hash-ring - the cache reuses the ring for the same ids and rebuilds on change', () => {
    const c = new RingCache(16);
    const r1 = c.ring(['a', 'b']);
    assert.equal(c.ring(['a', 'b']), r1);
    const r2 = c.ring(['a', 'b', 'c']);
    assert.notEqual(r2, r1);
    assert.deepEqual(r2.ids, ['a', 'b', 'c']);
    assert.equal(r2.size, 48);
    assert.notEqual(c.ring(['b', 'a']), r2, 'a different order is a different index mapping');
  });

  test('hash-ring - the cache keeps the sets a retry alternates between', () => {
    const c = new RingCache(16);
    const all = c.ring(['a', 'b', 'c']);
    const retry = c.ring(['a', 'c']);
    for (let i = 0; i < 5; i++) {
      assert.equal(c.ring(['a', 'b', 'c']), all);
      assert.equal(c.ring(['a', 'c']), retry);
    }
  });

  test('hash-ring - the cache drops the least recently used set beyond its slots', () => {
    const c = new RingCache(4);
    const sets = Array.from({ length: RingCache.SLOTS + 1 }, (_, i) => [`w${i}`]);
    const first = sets.map((ids) => c.ring(ids));
    // The first set was evicted by the last; every other one is still there.
    for (let i = 1; i < sets.length; i++) assert.equal(c.ring(sets[i]!), first[i]);
    assert.notEqual(c.ring(sets[0]!), first[0]);
    assert.deepEqual(c.ring(sets[0]!).ids, ['w0']);
  });
});
