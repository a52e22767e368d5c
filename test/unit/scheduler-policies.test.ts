import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BOUNDED_LOAD_DEFAULTS, boundedLoad } from '../../scheduler/policies/bounded-load.ts';
import { consistentHash } from '../../scheduler/policies/consistent-hash.ts';
import { LEAST_LOAD_DEFAULTS, leastLoad, leastLoadCost } from '../../scheduler/policies/least-load.ts';
import { createPolicy, isPolicyType, POLICY_FACTORIES, POLICY_TYPES, type PolicyType } from '../../scheduler/policies/index.ts';
import { powerOfTwo } from '../../scheduler/policies/power-of-two.ts';
import { random } from '../../scheduler/policies/random.ts';
import { roundRobin } from '../../scheduler/policies/round-robin.ts';
import { loadOf, type Candidate, type Policy, type RequestFeatures } from '../../scheduler/policies/types.ts';
import type { WorkerView } from '../../scheduler/registry.ts';
import { workerView } from '../helpers/fixtures.ts';
import { mulberry32, sequence } from '../helpers/random.ts';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

function worker(id: string, running = 0, waiting = 0): WorkerView {
  return workerView(id, { models: [MODEL], load: { running, waiting, kvUsage: 0 } });
}

/** Candidates w0…w(n-1); `loads[i]` is worker i's running count. */
function fleet(n: number, loads: readonly number[] = [], inflight: readonly number[] = []): Candidate[] {
  return Array.from({ length: n }, (_, i) => ({ worker: worker(`w${i}`, loads[i] ?? 0), inflight: inflight[i] ?? 0 }));
}

const req = (routingKey: string | null, model = MODEL): RequestFeatures => ({ model, routingKey });

/** Picks `n` times and counts picks per worker id. */
function tally(p: Policy, cands: readonly Candidate[], n: number, key: (i: number) => string | null, rnd = mulberry32(1)): Map<string, number> {
  const out = new Map<string, number>(cands.map((c) => [c.worker.id, 0]));
  for (let i = 0; i < n; i++) {
    const c = p.pick(cands, req(key(i)), { random: rnd });
    assert.ok(c, 'a pick');
    out.set(c.worker.id, out.get(c.worker.id)! + 1);
  }
  return out;
}

function chiSquare(counts: Iterable<number>, expected: number): number {
  let x = 0;
  for (const c of counts) x += (c - expected) ** 2 / expected;
  return x;
}

describe('policies', () => {
  test('policies - the registry maps each type to its factory', () => {
    assert.deepEqual([...POLICY_TYPES].sort(), ['bounded_load', 'consistent_hash', 'least_load', 'llmd', 'power_of_two', 'random', 'round_robin']);
    for (const t of POLICY_TYPES) {
      assert.ok(isPolicyType(t));
      assert.equal(createPolicy(t).type, t);
      assert.equal(POLICY_FACTORIES[t]().type, t);
    }
    for (const t of ['', 'least_loaded', 'toString', 'constructor', '__proto__']) assert.equal(isPolicyType(t), false, t);
  });

  // Properties every policy type must hold, table-driven over all of them.
  for (const t of POLICY_TYPES) {
    describe(`policies - ${t}`, () => {
      test(`policies - ${t} declares its inputs`, () => {
        const p = createPolicy(t);
        assert.ok(Array.isArray(p.consumes));
        for (const c of p.consumes) assert.equal(typeof c, 'string');
      });

      test(`policies - ${t} picks the only candidate`, () => {
        const p = createPolicy(t);
        const cands = fleet(1, [50]);
        for (const key of [null, 'session:a']) {
          for (let i = 0; i < 5; i++) assert.equal(p.pick(cands, req(key), { random: mulberry32(i) }), cands[0]);
        }
      });

      test(`policies - ${t} always returns one of the candidates for random fleets and loads`, () => {
        const rnd = mulberry32(42);
        const p = createPolicy(t);
        for (let round = 0; round < 300; round++) {
          const n = 1 + Math.floor(rnd() * 12);
          const cands = fleet(
            n,
            Array.from({ length: n }, () => Math.floor(rnd() * 40)),
            Array.from({ length: n }, () => Math.floor(rnd() * 5)),
          );
          const key = rnd() < 0.3 ? null : `user:${Math.floor(rnd() * 50)}`;
          const c = p.pick(cands, req(key, `m${round % 3}`), { random: rnd });
          assert.ok(c !== undefined && cands.includes(c), `round ${round}: ${n} candidates`);
        }
      });

      test(`policies - ${t} is deterministic for a given seed`, () => {
        const run = (): string[] => {
          const p = createPolicy(t);
          const rnd = mulberry32(7);
          const cands = fleet(6, [3, 1, 4, 1, 5, 9]);
          return Array.from({ length: 200 }, (_, i) => p.pick(cands, req(i % 3 === 0 ? null : `k${i % 17}`), { random: rnd })!.worker.id);
        };
        assert.deepEqual(run(), run());
      });

      test(`policies - ${t} instances share no state`, () => {
        const cands = fleet(5);
        const a = createPolicy(t);
        for (let i = 0; i < 3; i++) a.pick(cands, req('k'), { random: mulberry32(i) });
        const b = createPolicy(t);
        const c = createPolicy(t);
        const pb = b.pick(cands, req('k'), { random: mulberry32(99) });
        const pc = c.pick(cands, req('k'), { random: mulberry32(99) });
        assert.equal(pb, pc, 'a fresh instance is not affected by another one’s picks');
      });
    });
  }

  test('policies - loadOf is running + waiting + in flight', () => {
    assert.equal(loadOf({ worker: worker('w', 3, 2), inflight: 4 }), 9);
  });

  describe('policies - round_robin', () => {
    test('policies - round_robin cycles through the candidates exactly', () => {
      const p = roundRobin();
      const cands = fleet(3);
      const picks = Array.from({ length: 9 }, () => p.pick(cands, req(null), { random: () => 0 })!.worker.id);
      assert.deepEqual(picks, ['w0', 'w1', 'w2', 'w0', 'w1', 'w2', 'w0', 'w1', 'w2']);
    });

    test('policies - round_robin gives every worker the same share whatever the load', () => {
      const counts = tally(roundRobin(), fleet(7, [100, 0, 0, 0, 0, 0, 0]), 7 * 1000, () => null);
      for (const c of counts.values()) assert.equal(c, 1000);
    });

    test('policies - round_robin keeps going when the list changes size', () => {
      const p = roundRobin();
      const five = fleet(5);
      for (let i = 0; i < 4; i++) p.pick(five, req(null), { random: () => 0 });
      const three = fleet(3);
      const picks = Array.from({ length: 4 }, () => p.pick(three, req(null), { random: () => 0 })!.worker.id);
      assert.deepEqual(picks, ['w1', 'w2', 'w0', 'w1']);
    });
  });

  describe('policies - random', () => {
    test('policies - random is uniform (chi-square, seeded)', () => {
      const n = 8;
      const N = 40_000;
      const counts = tally(random(), fleet(n), N, () => null, mulberry32(2024));
      // 7 degrees of freedom: 24.32 is the 0.1% critical value.
      const x2 = chiSquare(counts.values(), N / n);
      assert.ok(x2 < 24.32, `chi-square ${x2.toFixed(2)}`);
      for (const c of counts.values()) assert.ok(Math.abs(c - N / n) < 0.05 * (N / n), `count ${c}`);
    });

    test('policies - random maps the unit interval onto the list', () => {
      const cands = fleet(4);
      assert.equal(random().pick(cands, req(null), { random: () => 0 }), cands[0]);
      assert.equal(random().pick(cands, req(null), { random: () => 0.2499 }), cands[0]);
      assert.equal(random().pick(cands, req(null), { random: () => 0.25 }), cands[1]);
      assert.equal(random().pick(cands, req(null), { random: () => 0.9999999 }), cands[3]);
    });
  });

  describe('policies - power_of_two', () => {
    test('policies - power_of_two takes the less loaded of two', () => {
      const p = powerOfTwo();
      const cands = fleet(2, [5, 1]);
      const rnd = mulberry32(3);
      for (let i = 0; i < 200; i++) assert.equal(p.pick(cands, req(null), { random: rnd })!.worker.id, 'w1');
    });

    test('policies - power_of_two never picks the most loaded worker when loads differ', () => {
      const p = powerOfTwo();
      const cands = fleet(6, [10, 20, 30, 40, 50, 60]);
      const counts = tally(p, cands, 5000, () => null, mulberry32(11));
      assert.equal(counts.get('w5'), 0);
      assert.ok(counts.get('w0')! > counts.get('w1')!, 'the least loaded wins most');
    });

    test('policies - power_of_two counts in-flight requests as load', () => {
      const p = powerOfTwo();
      const cands = fleet(2, [0, 0], [10, 0]);
      const rnd = mulberry32(5);
      for (let i = 0; i < 100; i++) assert.equal(p.pick(cands, req(null), { random: rnd })!.worker.id, 'w1');
    });

    test('policies - power_of_two gives most picks to the one idle worker among loaded ones', () => {
      const n = 5;
      const cands = fleet(n, [0, 8, 8, 8, 8]);
      const N = 10_000;
      const counts = tally(powerOfTwo(), cands, N, () => null, mulberry32(17));
      const idle = counts.get('w0')!;
      for (const [id, c] of counts) if (id !== 'w0') assert.ok(idle > c, `${id} got ${c}, the idle worker ${idle}`);
      // It wins whenever it is sampled: 1 − C(4,2)/C(5,2) = 40%.
      assert.ok(Math.abs(idle / N - 0.4) < 0.03, `idle share ${idle / N}`);
    });

    test('policies - power_of_two samples two distinct workers and breaks ties at random', () => {
      const cands = fleet(3);
      // i = 0, j = 0 → bumped to 1 (distinct); the tie-break draw decides.
      assert.equal(powerOfTwo().pick(cands, req(null), { random: sequence(0, 0, 0.1) })!.worker.id, 'w0');
      assert.equal(powerOfTwo().pick(cands, req(null), { random: sequence(0, 0, 0.9) })!.worker.id, 'w1');
      const counts = tally(powerOfTwo(), fleet(4), 8000, () => null, mulberry32(8));
      assert.ok(chiSquare(counts.values(), 2000) < 16.27, 'equal loads spread evenly');
    });
  });

  describe('policies - consistent_hash', () => {
    test('policies - consistent_hash sends a key to the same worker on every call', () => {
      const p = consistentHash();
      const cands = fleet(10);
      const rnd = mulberry32(1);
      for (let k = 0; k < 200; k++) {
        const first = p.pick(cands, req(`session:${k}`), { random: rnd });
        for (let i = 0; i < 3; i++) assert.equal(p.pick(cands, req(`session:${k}`), { random: rnd }), first);
      }
    });

    test('policies - consistent_hash agrees across independently created instances (two scheduler replicas)', () => {
      const a = consistentHash();
      const b = createPolicy('consistent_hash');
      const candsA = fleet(10);
      const candsB = [...fleet(10)].reverse(); // each replica's own objects, even in another order
      for (let k = 0; k < 1000; k++) {
        const key = `user:${k}`;
        assert.equal(a.pick(candsA, req(key), { random: mulberry32(k) })!.worker.id, b.pick(candsB, req(key), { random: mulberry32(k + 1) })!.worker.id);
      }
    });

    test('policies - consistent_hash ignores load', () => {
      const p = consistentHash();
      const idle = fleet(5);
      const busy = fleet(5, [100, 0, 50, 0, 7]);
      for (let k = 0; k < 100; k++) assert.equal(p.pick(idle, req(`k${k}`), { random: () => 0 })!.worker.id, p.pick(busy, req(`k${k}`), { random: () => 0 })!.worker.id);
    });

    test('policies - consistent_hash spreads requests without a key', () => {
      const N = 10_000;
      const counts = tally(consistentHash(), fleet(5), N, () => null, mulberry32(31));
      assert.ok(chiSquare(counts.values(), N / 5) < 18.47, 'uniform (4 dof, 0.1%)');
    });

    test('policies - consistent_hash spreads distinct keys over the fleet', () => {
      const N = 10_000;
      const counts = tally(consistentHash(), fleet(10), N, (i) => `session:${i}`);
      for (const c of counts.values()) assert.ok(c > 0.6 * (N / 10) && c < 1.4 * (N / 10), `count ${c}`);
    });

    test('policies - consistent_hash: when one of 10 workers leaves, only its keys move', () => {
      const p = consistentHash();
      const ten = fleet(10);
      const nine = ten.filter((c) => c.worker.id !== 'w4');
      let moved = 0;
      for (let k = 0; k < 5000; k++) {
        const key = `session:${k}`;
        const before = p.pick(ten, req(key), { random: () => 0 })!.worker.id;
        const after = p.pick(nine, req(key), { random: () => 0 })!.worker.id;
        if (before === 'w4') moved++;
        else assert.equal(after, before, `${key} moved off ${before}`);
      }
      assert.ok(moved > 250 && moved < 750, `${moved} keys were on the leaving worker`);
    });

    test('policies - consistent_hash: when one joins, roughly 1/10 of keys move, all to it', () => {
      const p = consistentHash();
      const ten = fleet(10);
      const eleven = [...ten, { worker: worker('w-new'), inflight: 0 }];
      const N = 10_000;
      let moved = 0;
      for (let k = 0; k < N; k++) {
        const key = `user:${k}`;
        const before = p.pick(ten, req(key), { random: () => 0 })!.worker.id;
        const after = p.pick(eleven, req(key), { random: () => 0 })!.worker.id;
        if (after !== before) {
          moved++;
          assert.equal(after, 'w-new');
        }
      }
      assert.ok(moved > 0.05 * N && moved < 0.15 * N, `${moved} of ${N} keys moved`);
    });

    test('policies - consistent_hash keeps a ring per model', () => {
      const p = consistentHash();
      const a = fleet(4);
      const b = fleet(6);
      // Alternating models with different fleets still gives each model its own stable mapping.
      const first = new Map<string, string>();
      for (let round = 0; round < 3; round++) {
        for (let k = 0; k < 50; k++) {
          for (const [model, cands] of [
            ['ma', a],
            ['mb', b],
          ] as const) {
            const id = p.pick(cands, req(`k${k}`, model), { random: () => 0 })!.worker.id;
            const seen = first.get(`${model}/${k}`);
            if (seen === undefined) first.set(`${model}/${k}`, id);
            else assert.equal(id, seen);
          }
        }
      }
    });

    test('policies - consistent_hash rejects an empty ring', () => {
      assert.throws(() => consistentHash({ virtualNodes: 0 }), RangeError);
      assert.throws(() => consistentHash({ virtualNodes: 1.5 }), RangeError);
      assert.ok(consistentHash({ virtualNodes: 1 }).pick(fleet(3), req('k'), { random: () => 0 }));
    });
  });

  describe('policies - bounded_load', () => {
    test('policies - bounded_load follows the ring while every worker is under the bound', () => {
      const bl = boundedLoad();
      const ch = consistentHash();
      const cands = fleet(8, [2, 2, 2, 2, 2, 2, 2, 2]);
      for (let k = 0; k < 500; k++) {
        const key = `session:${k}`;
        const want = ch.pick(cands, req(key), { random: () => 0 })!.worker.id;
        assert.equal(bl.pick(cands, req(key), { random: () => 0 })!.worker.id, want);
        assert.equal(bl.pick(cands, req(key), { random: () => 0.5 })!.worker.id, want, 'sticky');
      }
    });

    test('policies - bounded_load stays with the owner up to factor × mean, then spills', () => {
      const bl = boundedLoad({ factor: 1.25 });
      const ch = consistentHash();
      const n = 4;
      const key = 'session:hot';
      const owner = Number(ch.pick(fleet(n), req(key), { random: () => 0 })!.worker.id.slice(1));
      const withOwnerLoad = (l: number): Candidate[] =>
        fleet(
          n,
          Array.from({ length: n }, (_, i) => (i === owner ? l : 4)),
        );
      // Others carry 4 each. The bound is ceil(1.25 × (total + 1) / n).
      for (let l = 0; l <= 12; l++) {
        const total = 4 * (n - 1) + l;
        const bound = Math.ceil((1.25 * (total + 1)) / n);
        const picked = bl.pick(withOwnerLoad(l), req(key), { random: () => 0 })!.worker.id;
        if (l < bound) assert.equal(picked, `w${owner}`, `owner load ${l}, bound ${bound}: sticky`);
        else assert.notEqual(picked, `w${owner}`, `owner load ${l}, bound ${bound}: spills`);
      }
    });

    test('policies - bounded_load spills to the same next worker every time', () => {
      const bl = boundedLoad();
      const cands0 = fleet(5);
      const owner = bl.pick(cands0, req('s'), { random: () => 0 })!.worker.id;
      const hot = fleet(5).map((c) => (c.worker.id === owner ? { ...c, inflight: 100 } : c));
      const spill = bl.pick(hot, req('s'), { random: () => 0 })!.worker.id;
      assert.notEqual(spill, owner);
      for (let i = 0; i < 10; i++) assert.equal(bl.pick(hot, req('s'), { random: mulberry32(i) })!.worker.id, spill);
    });

    test('policies - bounded_load keeps every worker near the bound under skewed keys', () => {
      // Place requests one by one (load grows as they land): no worker may exceed the bound by more than 1.
      const bl = boundedLoad({ factor: 1.25 });
      const n = 6;
      const loads = new Array<number>(n).fill(0);
      const rnd = mulberry32(77);
      for (let i = 0; i < 600; i++) {
        const key = rnd() < 0.8 ? 'session:hot' : `session:${i}`;
        const cands = fleet(n, loads);
        const c = bl.pick(cands, req(key), { random: rnd })!;
        const total = loads.reduce((a, b) => a + b, 0);
        const bound = Math.ceil((1.25 * (total + 1)) / n);
        assert.ok(loadOf(c) < bound, `picked load ${loadOf(c)} ≥ bound ${bound}`);
        loads[Number(c.worker.id.slice(1))]!++;
      }
      const mean = 600 / n;
      for (const l of loads) assert.ok(l <= Math.ceil(1.25 * mean) + 1, `load ${l}`);
    });

    test('policies - bounded_load never returns undefined for a non-empty list', () => {
      const rnd = mulberry32(9);
      for (const factor of [1, 1.01, 1.25, 2, 10]) {
        const bl = boundedLoad({ factor, virtualNodes: 4 });
        for (let round = 0; round < 200; round++) {
          const n = 1 + Math.floor(rnd() * 9);
          const cands = fleet(
            n,
            Array.from({ length: n }, () => Math.floor(rnd() * 1000)),
            Array.from({ length: n }, () => (rnd() < 0.5 ? 0 : Math.floor(rnd() * 100))),
          );
          const c = bl.pick(cands, req(rnd() < 0.2 ? null : `k${round}`), { random: rnd });
          assert.ok(c !== undefined && cands.includes(c));
        }
      }
    });

    test('policies - bounded_load with all workers equally loaded stays sticky', () => {
      const bl = boundedLoad();
      const cands = fleet(5, [100, 100, 100, 100, 100]);
      const first = bl.pick(cands, req('s'), { random: () => 0 });
      for (let i = 0; i < 5; i++) assert.equal(bl.pick(cands, req('s'), { random: () => 0.3 }), first);
    });

    test('policies - bounded_load validates its parameters', () => {
      assert.deepEqual({ ...BOUNDED_LOAD_DEFAULTS }, { virtualNodes: 160, factor: 1.25 });
      assert.throws(() => boundedLoad({ factor: 0.9 }), RangeError);
      assert.throws(() => boundedLoad({ factor: Number.NaN }), RangeError);
      assert.throws(() => boundedLoad({ virtualNodes: 0 }), RangeError);
      assert.ok(Object.isFrozen(BOUNDED_LOAD_DEFAULTS));
    });
  });

  describe('policies - least_load', () => {
    /** Candidates with token loads [prefill, decode] each. */
    const loaded = (tokens: readonly (readonly [number, number])[], inflight: readonly number[] = []): Candidate[] =>
      tokens.map(([prefill, decode], i) => ({ worker: worker(`w${i}`), inflight: inflight[i] ?? 0, tokens: { prefill, decode } }));
    const withPrompt = (promptTokens: number, prefixMatch?: (id: string) => number): RequestFeatures => ({ model: MODEL, routingKey: null, promptTokens, prefixMatch });

    test('policies - least_load sends a prompt to the worker with the fewest prompt tokens queued', () => {
      const p = leastLoad();
      const c = loaded([
        [4000, 0],
        [1000, 0],
        [2500, 0],
      ]);
      for (let i = 0; i < 20; i++) assert.equal(p.pick(c, withPrompt(800), { random: mulberry32(i) })?.worker.id, 'w1');
    });

    test('policies - least_load weighs held KV at a quarter of queued prompt tokens', () => {
      assert.equal(LEAST_LOAD_DEFAULTS.decodeWeight, 0.25);
      const c = loaded([
        [1000, 0],
        [0, 3000],
        [0, 5000],
      ]);
      // w0: 1000, w1: 750, w2: 1250
      assert.equal(leastLoad().pick(c, withPrompt(0), { random: () => 0 })?.worker.id, 'w1');
      assert.equal(leastLoadCost(c[1]!, 200, 0), 200 + 750);
      assert.equal(leastLoadCost(c[1]!, 200, 0.5), 100 + 750, 'a cached half of the prompt is not counted');
      // With decode weight 1 the worker with no KV wins despite its queue.
      assert.equal(leastLoad({ decodeWeight: 1 }).pick(c, withPrompt(0), { random: () => 0 })?.worker.id, 'w0');
    });

    test('policies - least_load prefers the worker that has the prompt cached when that saves more than its queue costs', () => {
      const c = loaded([
        [500, 0],
        [0, 0],
      ]);
      const match = (id: string): number => (id === 'w0' ? 0.9 : 0);
      // w0: 500 + 200 = 700 against w1: 2000.
      assert.equal(leastLoad().pick(c, withPrompt(2000, match), { random: () => 0.99 })?.worker.id, 'w0');
      // A short prompt does not justify w0's queue.
      assert.equal(leastLoad().pick(c, withPrompt(100, match), { random: () => 0.99 })?.worker.id, 'w1');
    });

    test('policies - least_load spreads a burst: each pick is counted before the next', () => {
      // As the scheduler does: the tracker charges a pick before the next request is placed.
      const p = leastLoad();
      const tokens = [0, 0, 0, 0].map(() => ({ prefill: 0, decode: 0 }));
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const c = tokens.map((t, j) => ({ worker: worker(`w${j}`), inflight: 0, tokens: t }));
        const w = p.pick(c, withPrompt(1000), { random: mulberry32(i) })!;
        seen.add(w.worker.id);
        tokens[Number(w.worker.id.slice(1))] = { prefill: 1000, decode: 0 };
      }
      assert.equal(seen.size, 4, 'four requests went to four workers');
    });

    test('policies - least_load breaks ties at random and by requests in flight', () => {
      const even = tally(
        leastLoad(),
        loaded([
          [0, 0],
          [0, 0],
          [0, 0],
          [0, 0],
        ]),
        4000,
        () => null,
      );
      assert.ok(chiSquare(even.values(), 1000) < 16.27, `uniform over ties: ${[...even.values()].join(', ')}`);
      const c = loaded(
        [
          [0, 0],
          [0, 0],
        ],
        [3, 1],
      );
      assert.equal(leastLoad().pick(c, withPrompt(10), { random: () => 0 })?.worker.id, 'w1', 'without token estimates, fewer requests wins');
    });

    test('policies - least_load validates its parameters', () => {
      assert.throws(() => leastLoad({ decodeWeight: -1 }), RangeError);
      assert.throws(() => leastLoad({ decodeWeight: Number.POSITIVE_INFINITY }), RangeError);
      assert.ok(Object.isFrozen(LEAST_LOAD_DEFAULTS));
    });
  });

  test('policies - every type from the registry is usable by name', () => {
    const types: PolicyType[] = ['round_robin', 'random', 'power_of_two', 'consistent_hash', 'bounded_load', 'least_load'];
    for (const t of types) assert.ok(createPolicy(t).pick(fleet(2), req('k'), { random: () => 0.5 }));
  });
});
