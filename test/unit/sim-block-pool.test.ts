import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { BlockPool } from '../../sim/block-pool.ts';

describe('block-pool', () => {
  const badSizes: [string, number][] = [
    ['zero', 0],
    ['negative', -4],
    ['fractional', 2.5],
    ['NaN', Number.NaN],
  ];
  for (const [name, n] of badSizes) {
    test(`block-pool - a ${name} size is rejected`, () => {
      assert.throws(() => new BlockPool(n), RangeError);
    });
  }

  test('block-pool - a new pool is all free and unused', () => {
    const pool = new BlockPool(8);
    assert.equal(pool.numBlocks, 8);
    assert.equal(pool.numFree, 8);
    assert.equal(pool.usage, 0);
    assert.equal(pool.numCached, 0);
  });

  test('block-pool - allocate hands out distinct blocks, low ids first, with one reference each', () => {
    const pool = new BlockPool(8);
    const a = pool.allocate(3);
    assert.deepEqual(a, [0, 1, 2]);
    const b = pool.allocate(2);
    assert.deepEqual(b, [3, 4]);
    for (const id of [...a!, ...b!]) assert.equal(pool.refCount(id), 1);
    assert.equal(pool.refCount(5), 0);
    assert.equal(pool.numFree, 3);
    assert.equal(pool.usage, 5 / 8);
  });

  test('block-pool - allocating zero blocks gives an empty list and takes nothing', () => {
    const pool = new BlockPool(2);
    assert.deepEqual(pool.allocate(0), []);
    assert.equal(pool.numFree, 2);
  });

  test('block-pool - allocate returns null and takes nothing when not enough are free', () => {
    const pool = new BlockPool(4);
    pool.allocate(3);
    assert.equal(pool.allocate(2), null);
    assert.equal(pool.numFree, 1);
    assert.deepEqual(pool.allocate(1), [3]);
    assert.equal(pool.allocate(1), null);
    assert.equal(pool.numFree, 0);
    assert.equal(pool.usage, 1);
  });

  test('block-pool - release frees uncached blocks for reuse', () => {
    const pool = new BlockPool(4);
    const ids = pool.allocate(4)!;
    pool.release(ids);
    assert.equal(pool.numFree, 4);
    assert.equal(pool.usage, 0);
    for (const id of ids) assert.equal(pool.refCount(id), 0);
    assert.equal(pool.allocate(4)!.length, 4);
  });

  test('block-pool - acquire and release count references; the last release frees', () => {
    const pool = new BlockPool(4);
    const [id] = pool.allocate(1)!;
    pool.register(id!, 11n);
    pool.acquire([id!]);
    pool.acquire([id!]);
    assert.equal(pool.refCount(id!), 3);
    pool.release([id!]);
    pool.release([id!]);
    assert.equal(pool.refCount(id!), 1);
    assert.equal(pool.numFree, 3);
    pool.release([id!]);
    assert.equal(pool.refCount(id!), 0);
    assert.equal(pool.numFree, 4);
  });

  test('block-pool - releasing more often than acquired throws', () => {
    const pool = new BlockPool(4);
    const ids = pool.allocate(2)!;
    pool.release(ids);
    assert.throws(() => pool.release([ids[0]!]), /released more often than acquired/);
    assert.throws(() => pool.release([3]), /released more often than acquired/);
  });

  test('block-pool - registered blocks are found by longestCachedPrefix, in order, up to the first miss', () => {
    const pool = new BlockPool(8);
    const ids = pool.allocate(3)!;
    pool.register(ids[0]!, 100n);
    pool.register(ids[1]!, 200n);
    pool.register(ids[2]!, 300n);
    assert.equal(pool.numCached, 3);
    assert.deepEqual(pool.longestCachedPrefix([100n, 200n, 300n]), ids);
    assert.deepEqual(pool.longestCachedPrefix([100n, 200n, 999n, 300n]), ids.slice(0, 2));
    assert.deepEqual(pool.longestCachedPrefix([999n, 100n]), []);
    assert.deepEqual(pool.longestCachedPrefix([]), []);
  });

  test('block-pool - longestCachedPrefix takes no references', () => {
    const pool = new BlockPool(4);
    const [id] = pool.allocate(1)!;
    pool.register(id!, 7n);
    pool.longestCachedPrefix([7n]);
    assert.equal(pool.refCount(id!), 1);
  });

  test('block-pool - the first writer of a hash wins', () => {
    const pool = new BlockPool(4);
    const [a, b] = pool.allocate(2)!;
    pool.register(a!, 5n);
    pool.register(b!, 5n);
    assert.deepEqual(pool.longestCachedPrefix([5n]), [a]);
    pool.register(a!, 6n); // a block keeps its first hash
    assert.deepEqual(pool.longestCachedPrefix([6n]), []);
    assert.equal(pool.numCached, 1);
  });

  test('block-pool - a released cached block stays findable and counts as free', () => {
    const pool = new BlockPool(4);
    const ids = pool.allocate(2)!;
    pool.register(ids[0]!, 1n);
    pool.register(ids[1]!, 2n);
    pool.release(ids);
    assert.equal(pool.numFree, 4);
    assert.equal(pool.usage, 0);
    assert.equal(pool.numCached, 2);
    assert.deepEqual(pool.longestCachedPrefix([1n, 2n]), ids);
  });

  test('block-pool - acquiring an evictable cached block takes it out of the free count', () => {
    const pool = new BlockPool(4);
    const ids = pool.allocate(2)!;
    pool.register(ids[0]!, 1n);
    pool.release(ids);
    const hit = pool.longestCachedPrefix([1n]);
    pool.acquire(hit);
    assert.equal(pool.refCount(ids[0]!), 1);
    assert.equal(pool.numFree, 3);
    // The acquired block is never handed out again while referenced.
    const rest = pool.allocate(3)!;
    assert.ok(!rest.includes(ids[0]!));
    assert.equal(pool.allocate(1), null);
  });

  test('block-pool - free blocks are used before evictable cached ones', () => {
    const pool = new BlockPool(4);
    const [c] = pool.allocate(1)!;
    pool.register(c!, 9n);
    pool.release([c!]);
    const got = pool.allocate(3)!;
    assert.ok(!got.includes(c!));
    assert.deepEqual(pool.longestCachedPrefix([9n]), [c]);
  });

  test('block-pool - evictable blocks are reused least recently released first, and their hash is forgotten', () => {
    const pool = new BlockPool(3);
    const [a, b, c] = pool.allocate(3)!;
    pool.register(a!, 1n);
    pool.register(b!, 2n);
    pool.register(c!, 3n);
    pool.release([b!]);
    pool.release([a!]);
    pool.release([c!]);
    assert.deepEqual(pool.allocate(1), [b]);
    assert.deepEqual(pool.longestCachedPrefix([2n]), []);
    assert.deepEqual(pool.longestCachedPrefix([1n]), [a]);
    assert.equal(pool.numCached, 2);
    assert.deepEqual(pool.allocate(1), [a]);
    assert.deepEqual(pool.allocate(1), [c]);
    assert.equal(pool.numCached, 0);
  });

  test('block-pool - re-acquiring a cached block refreshes its place in the eviction order', () => {
    const pool = new BlockPool(2);
    const [a, b] = pool.allocate(2)!;
    pool.register(a!, 1n);
    pool.register(b!, 2n);
    pool.release([a!]);
    pool.release([b!]);
    pool.acquire([a!]);
    pool.release([a!]); // a is now the most recently released
    assert.deepEqual(pool.allocate(1), [b]);
  });

  test("block-pool - release frees a request's tail blocks first, so its prefix is evicted last", () => {
    const pool = new BlockPool(3);
    const ids = pool.allocate(3)!;
    for (const [i, id] of ids.entries()) pool.register(id, BigInt(i + 1));
    pool.release(ids);
    // Eviction order follows release order: last block first, first block last.
    assert.deepEqual(pool.allocate(1), [ids[2]]);
    assert.deepEqual(pool.longestCachedPrefix([1n, 2n, 3n]), ids.slice(0, 2));
    assert.deepEqual(pool.allocate(1), [ids[1]]);
    assert.deepEqual(pool.longestCachedPrefix([1n, 2n, 3n]), ids.slice(0, 1));
  });

  test('block-pool - a reused block can be registered under a new hash', () => {
    const pool = new BlockPool(1);
    const [a] = pool.allocate(1)!;
    pool.register(a!, 1n);
    pool.release([a!]);
    assert.deepEqual(pool.allocate(1), [a]);
    pool.register(a!, 2n);
    assert.deepEqual(pool.longestCachedPrefix([2n]), [a]);
    assert.deepEqual(pool.longestCachedPrefix([1n]), []);
  });

  test('block-pool - resetPrefixCache forgets every hash and frees evictable blocks', () => {
    const pool = new BlockPool(4);
    const ids = pool.allocate(3)!;
    for (const [i, id] of ids.entries()) pool.register(id, BigInt(i + 1));
    pool.release([ids[2]!]); // evictable
    pool.resetPrefixCache();
    assert.equal(pool.numCached, 0);
    assert.deepEqual(pool.longestCachedPrefix([1n]), []);
    assert.deepEqual(pool.longestCachedPrefix([3n]), []);
    // Blocks in use keep their references and stay allocated.
    assert.equal(pool.refCount(ids[0]!), 1);
    assert.equal(pool.numFree, 2);
    // Once released they are plain free blocks, not cached ones.
    pool.release(ids.slice(0, 2));
    assert.equal(pool.numFree, 4);
    assert.equal(pool.numCached, 0);
    assert.equal(pool.allocate(4)!.length, 4);
  });
});
