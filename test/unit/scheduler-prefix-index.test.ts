// The prefix index against the plain model it must behave exactly like (one LRU Map of block
// hashes per worker): random inserts, matches, matchers and forgets over a fleet large enough for
// popular blocks to get bitsets, and small enough capacities for eviction to run all the time.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mulberry32 } from '../helpers/random.ts';
import { PrefixIndex } from '../../scheduler/prefix-index.ts';

/** The index's specification: worker → block hash → true, least recently used first. */
class Model {
  readonly #workers = new Map<string, Map<bigint, true>>();
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  match(w: string, chain: readonly bigint[]): number {
    const seen = this.#workers.get(w);
    let n = 0;
    while (seen && n < chain.length && seen.has(chain[n]!)) n++;
    return n;
  }

  insert(w: string, chain: readonly bigint[]): void {
    if (chain.length === 0) return;
    const seen = this.#workers.get(w) ?? new Map<bigint, true>();
    this.#workers.set(w, seen);
    for (const h of chain) {
      seen.delete(h);
      seen.set(h, true);
    }
    while (seen.size > this.max) seen.delete(seen.keys().next().value as bigint);
  }

  forget(w: string): void {
    this.#workers.delete(w);
  }

  get size(): number {
    let n = 0;
    for (const s of this.#workers.values()) n += s.size;
    return n;
  }
}

/** Chains that share prefixes: a few common heads, each extended by random blocks. */
function chains(r: () => number, heads: number, count: number): bigint[][] {
  const block = (): bigint => (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(r() * 2 ** 32));
  const head = Array.from({ length: heads }, () => Array.from({ length: 1 + Math.floor(r() * 6) }, block));
  return Array.from({ length: count }, () => {
    const h = head[Math.floor(r() * heads)]!;
    const tail = Array.from({ length: Math.floor(r() * 8) }, block);
    return [...h, ...tail];
  });
}

function fuzz(seed: number, workers: number, max: number, steps: number): void {
  const r = mulberry32(seed);
  const index = new PrefixIndex({ maxBlocksPerWorker: max });
  const model = new Model(max);
  const ids = Array.from({ length: workers }, (_, i) => `w${i}`);
  const listed = ids.map((id) => ({ worker: { id } }));
  const pool = chains(r, 5, 400);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  for (let step = 0; step < steps; step++) {
    const op = r();
    const chain = pick(pool);
    // A prefix of a known chain, or one with a block swapped, so matches stop in the middle.
    const q = r() < 0.3 ? chain.slice(0, Math.floor(r() * (chain.length + 1))) : r() < 0.2 ? chain.map((h, i) => (i === Math.floor(chain.length / 2) ? h ^ 1n : h)) : chain;
    if (op < 0.55) {
      const w = pick(ids);
      index.insert(w, q);
      model.insert(w, q);
    } else if (op < 0.6) {
      const w = pick(ids);
      index.forget(w);
      model.forget(w);
    } else if (op < 0.75) {
      const w = pick(ids);
      assert.equal(index.match(w, q), model.match(w, q), `match of ${w} at step ${step}`);
      assert.equal(index.matchedChars(w, q), model.match(w, q) * index.options.blockChars);
    } else {
      const m = index.matcher(q, listed);
      for (const [i, w] of ids.entries()) {
        assert.equal(m(w), model.match(w, q), `matcher for ${w} at step ${step}`);
        assert.equal(m(w, i), model.match(w, q), `matcher for ${w} by position at step ${step}`);
      }
      assert.equal(m('never-seen'), 0);
    }
    if (step % 97 === 0) assert.equal(index.size, model.size, `size at step ${step}`);
  }
  // Workers leave one by one (popular blocks lose their bitsets), then come back (freed ids reused).
  for (const [k, w] of ids.entries()) {
    index.forget(w);
    model.forget(w);
    if (k % 7 === 0) {
      const q = pick(pool);
      const m = index.matcher(q);
      for (const v of ids) assert.equal(m(v), model.match(v, q), `matcher for ${v} after ${k + 1} left`);
    }
  }
  assert.equal(index.size, 0);
  for (let step = 0; step < steps / 10; step++) {
    const w = pick(ids);
    const q = pick(pool);
    index.insert(w, q);
    model.insert(w, q);
    const probe = pick(ids);
    const p = pick(pool);
    assert.equal(index.matcher(p)(probe), model.match(probe, p));
  }
  for (const q of pool.slice(0, 20)) {
    const m = index.matcher(q);
    for (const v of ids) assert.equal(m(v), model.match(v, q), `matcher for ${v} after they came back`);
  }
  assert.equal(index.size, model.size);
}

describe('prefix index', () => {
  test('prefix index - match counts the leading blocks a worker was sent', () => {
    const p = new PrefixIndex({ blockChars: 4 });
    const a = p.chain('abcdefghijkl');
    const b = p.chain('abcdefghXXXX');
    assert.equal(a.length, 3);
    assert.deepEqual(a.slice(0, 2), b.slice(0, 2), 'chains share their common prefix');
    assert.notEqual(a[2], b[2]);
    p.insert('w1', a);
    assert.equal(p.match('w1', a), 3);
    assert.equal(p.match('w1', b), 2);
    assert.equal(p.match('w2', a), 0);
    assert.equal(p.matchedChars('w1', b), 8);
    assert.equal(p.size, 3);
    p.insert('w2', b);
    assert.equal(p.size, 6);
    const m = p.matcher(b);
    assert.deepEqual([m('w1'), m('w2'), m('w3')], [2, 3, 0]);
    p.forget('w1');
    assert.equal(p.match('w1', a), 0);
    assert.equal(p.size, 3);
  });

  test('prefix index - the least recently sent blocks go first', () => {
    const p = new PrefixIndex({ maxBlocksPerWorker: 3 });
    p.insert('w', [1n, 2n, 3n]);
    p.insert('w', [1n]); // 1 is now the freshest
    p.insert('w', [4n]); // evicts 2
    assert.equal(p.match('w', [1n]), 1);
    assert.equal(p.match('w', [2n]), 0);
    assert.equal(p.match('w', [3n, 4n, 1n]), 3);
    assert.equal(p.size, 3);
  });

  test('prefix index - a matcher falls back to match once the index changed', () => {
    const p = new PrefixIndex();
    p.insert('w', [1n, 2n]);
    const m = p.matcher([1n, 2n]);
    assert.equal(m('w'), 2);
    p.insert('v', [1n]);
    assert.equal(m('v'), 1, 'answers for the index as it is now');
    const m2 = p.matcher([1n]);
    assert.equal(m('w'), 2, 'an older matcher still answers after a newer one ran');
    assert.equal(m2('v'), 1);
  });

  test('prefix index - a matcher given the candidate list answers by position, and by id when the position is wrong', () => {
    const p = new PrefixIndex();
    p.insert('a', [1n, 2n]);
    p.insert('b', [1n]);
    const list = ['a', 'b', 'c'].map((id) => ({ worker: { id } }));
    let m = p.matcher([1n, 2n], list);
    assert.deepEqual([m('a', 0), m('b', 1), m('c', 2)], [2, 1, 0]);
    assert.deepEqual([m('a', 1), m('b', 0), m('a', 7), m('a')], [2, 1, 2, 2], 'a wrong or missing index is only a missed shortcut');
    p.insert('c', [1n, 2n]); // c gets a slot: the list's cached slots are stale
    m = p.matcher([1n, 2n], list);
    assert.deepEqual([m('a', 0), m('b', 1), m('c', 2)], [2, 1, 2]);
    p.forget('a');
    p.insert('d', [1n, 2n]); // d may take a's slot
    m = p.matcher([1n, 2n], list);
    assert.deepEqual([m('a', 0), m('b', 1), m('c', 2), m('d')], [0, 1, 2, 2]);
  });

  test('prefix index - a forgotten worker is gone at once, though its blocks are let go a few at a time', () => {
    const p = new PrefixIndex();
    const big = Array.from({ length: 5000 }, (_, i) => BigInt(i + 1));
    p.insert('w', big);
    p.insert('v', big.slice(0, 10));
    p.forget('w');
    assert.equal(p.size, 10);
    assert.equal(p.match('w', big), 0);
    assert.equal(p.matcher(big)('w'), 0);
    p.insert('w', big.slice(0, 3)); // the same id again: a new slot, empty
    assert.deepEqual([p.match('w', big), p.match('v', big)], [3, 10]);
    for (let i = 0; i < 200; i++) p.insert('u', [BigInt(10_000 + i)]); // each insert lets more go
    assert.equal(p.size, 3 + 10 + 200);
    assert.deepEqual([p.match('w', big), p.match('v', big), p.match('u', [10_000n])], [3, 10, 1]);
  });

  test('prefix index - sizes below 1 are refused', () => {
    assert.throws(() => new PrefixIndex({ blockChars: 0 }), RangeError);
    assert.throws(() => new PrefixIndex({ maxBlocksPerWorker: 0 }), RangeError);
  });

  // Few workers: every block's holders stay a list.
  test('prefix index - agrees with the model: a few workers, heavy eviction', () => fuzz(1, 6, 12, 20_000));
  // 300 workers: the common heads get bitsets (and lose them as workers forget), slots grow past 64 and 256.
  test('prefix index - agrees with the model: hundreds of workers, bitsets for popular blocks', () => fuzz(2, 300, 40, 30_000));
  test('prefix index - agrees with the model: roomy workers', () => fuzz(3, 100, 10_000, 20_000));
});
