// The candidate lists kept between picks must be, at every pick, what building them afresh gave:
// the registry's workers whose breakers allow them, each with its in-flight figures as the
// tracker has them now.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CandidateCache } from '../../scheduler/candidate-cache.ts';
import { CircuitBreakers, type BreakerState } from '../../scheduler/circuit-breaker.ts';
import { InflightTracker, type InflightHandle } from '../../scheduler/inflight.ts';
import { type CandidateList, loadOf } from '../../scheduler/policies/types.ts';
import { Registry } from '../../scheduler/registry.ts';
import { heartbeat } from '../helpers/fixtures.ts';
import { mulberry32 } from '../helpers/random.ts';

const MODEL = 'm';

function setup(n: number) {
  let now = 1_000_000;
  const clock = () => now;
  const registry = new Registry({ now: clock });
  for (let i = 0; i < n; i++) registry.upsert(heartbeat(`w${i}`, { models: [MODEL], sentAt: 1 }));
  const inflight = new InflightTracker('s1', clock);
  const transitions: [string, BreakerState, BreakerState][] = [];
  const breakers = new CircuitBreakers({ failureThreshold: 1, successThreshold: 1, cooldownMs: 1000 }, clock);
  breakers.onTransition = (id, from, to) => transitions.push([id, from, to]);
  const cache = new CandidateCache(inflight, registry);
  return { registry, inflight, breakers, cache, transitions, advance: (ms: number) => (now += ms) };
}

/** What a pick built before the cache: a fresh filter, fresh figures. */
function fresh(s: ReturnType<typeof setup>): unknown[] {
  return s.registry
    .candidates(MODEL, 'whole')
    .filter((w) => s.breakers.allows(w.id))
    .map((w) => ({ id: w.id, inflight: s.inflight.total(w.id), tokens: { ...s.inflight.tokens(w.id) } }));
}

const plain = (l: CandidateList): unknown[] => l.map((c) => ({ id: c.worker.id, inflight: c.inflight, tokens: { prefill: c.tokens?.prefill ?? 0, decode: c.tokens?.decode ?? 0 } }));

describe('candidate cache', () => {
  test('candidate cache - one list per fleet, with live figures', () => {
    const s = setup(3);
    const workers = s.registry.candidates(MODEL, 'whole');
    const a = s.cache.allowed(workers, s.breakers);
    assert.equal(s.cache.allowed(workers, s.breakers), a, 'the same array while nothing changed');
    assert.deepEqual(
      a.map((c) => c.inflight),
      [0, 0, 0],
    );
    const h = s.inflight.start('w1', 100, 300);
    assert.equal(a[1]!.inflight, 1, 'read when accessed');
    assert.deepEqual(plain(a)[1], { id: 'w1', inflight: 1, tokens: { prefill: 100, decode: 0 } });
    h.prefillDone();
    assert.deepEqual(plain(a), fresh(s));
    s.inflight.apply({ from: 's2', full: true, counts: { w2: 4 }, tokens: { w2: [10, 20] }, sentAt: 0 });
    assert.deepEqual(plain(a), fresh(s), "a peer's figures too");
    h.end();
    assert.deepEqual(plain(a), fresh(s));
    s.registry.upsert(heartbeat('w3', { models: [MODEL], sentAt: 1 }));
    const b = s.cache.allowed(s.registry.candidates(MODEL, 'whole'), s.breakers);
    assert.notEqual(b, a, 'a new list when the fleet changed');
    assert.deepEqual(plain(b), fresh(s));
  });

  test('candidate cache - workers whose breakers keep requests out are left out, as a filter would', () => {
    const s = setup(4);
    const workers = s.registry.candidates(MODEL, 'whole');
    const all = s.cache.allowed(workers, s.breakers);
    s.breakers.failure('w2');
    s.breakers.failure('w0');
    const without = s.cache.allowed(workers, s.breakers);
    assert.deepEqual(plain(without), fresh(s));
    assert.deepEqual(
      without.map((c) => c.worker.id),
      ['w1', 'w3'],
    );
    assert.equal(s.cache.allowed(workers, s.breakers), without, 'the same array while the breakers stay the same');
    s.transitions.length = 0;
    s.advance(1000);
    const trial = s.cache.allowed(workers, s.breakers);
    assert.equal(trial, all, 'half-open: a trial may go to each');
    assert.deepEqual(
      s.transitions,
      [
        ['w0', 'open', 'half_open'],
        ['w2', 'open', 'half_open'],
      ],
      'asked in the list order',
    );
    assert.ok(s.breakers.acquire('w2'));
    assert.deepEqual(plain(s.cache.allowed(workers, s.breakers)), fresh(s), 'a half-open breaker with its trial out keeps requests out');
    s.breakers.success('w2');
    s.breakers.success('w0');
    assert.equal(s.cache.allowed(workers, s.breakers), all);
  });

  test('candidate cache - an empty list is not kept', () => {
    const s = setup(0);
    assert.deepEqual(s.cache.allowed(s.registry.candidates('nothing', 'whole'), s.breakers), []);
  });

  test('candidate cache - a list keeps its total load as heartbeats and requests change it', () => {
    const s = setup(3);
    const workers = s.registry.candidates(MODEL, 'whole');
    const sum = (l: CandidateList): number => l.reduce((t, c) => t + loadOf(c), 0);
    const a = s.cache.allowed(workers, s.breakers);
    assert.equal(a.loadTotal, 0);
    s.registry.upsert(heartbeat('w1', { models: [MODEL], sentAt: 2, load: { running: 5, waiting: 2, kvUsage: 0.5 } }));
    const h = s.inflight.start('w2', 10, 10);
    s.inflight.apply({ from: 's2', full: true, counts: { w0: 3 }, sentAt: 0 });
    assert.equal(a.loadTotal, 11);
    assert.equal(a.loadTotal, sum(a));
    s.breakers.failure('w1');
    const without = s.cache.allowed(workers, s.breakers);
    assert.equal(without.loadTotal, 4, 'a list without a worker does not count it');
    h.end();
    assert.equal(without.loadTotal, 3);
    assert.equal(a.loadTotal, 10);
  });

  test('candidate cache - two caches on one tracker keep their own totals', () => {
    const s = setup(2);
    const other = new CandidateCache(s.inflight, s.registry);
    const workers = s.registry.candidates(MODEL, 'whole');
    const a = s.cache.allowed(workers, s.breakers);
    const b = other.allowed(workers, s.breakers);
    s.inflight.inc('w0');
    assert.deepEqual([a.loadTotal, b.loadTotal], [1, 1]);
  });

  test('candidate cache - agrees with a fresh build through random traffic, breakers, peers and fleet changes', () => {
    const s = setup(12);
    const r = mulberry32(5);
    const handles: InflightHandle[] = [];
    const worker = (): string => `w${Math.floor(r() * 14)}`;
    for (let step = 0; step < 5000; step++) {
      const op = r();
      if (op < 0.3) handles.push(s.inflight.start(worker(), Math.floor(r() * 500), Math.floor(r() * 900)));
      else if (op < 0.4 && handles.length) handles[Math.floor(r() * handles.length)]!.prefillDone();
      else if (op < 0.6 && handles.length) handles.splice(Math.floor(r() * handles.length), 1)[0]!.end();
      else if (op < 0.65) s.inflight.apply({ from: `s${2 + Math.floor(r() * 2)}`, full: r() < 0.5, counts: { [worker()]: Math.floor(r() * 5) }, sentAt: 0 });
      else if (op < 0.7) s.breakers.failure(worker());
      else if (op < 0.75) s.breakers.success(worker());
      else if (op < 0.78) s.advance(400);
      else if (op < 0.8) s.registry.upsert(heartbeat(worker(), { models: [MODEL], sentAt: step, seq: step, state: r() < 0.3 ? 'draining' : 'ready' }));
      else if (op < 0.9) s.registry.upsert(heartbeat(worker(), { models: [MODEL], sentAt: step, seq: step, load: { running: Math.floor(r() * 50), waiting: Math.floor(r() * 9), kvUsage: r() } }));
      else if (op < 0.91) s.registry.remove(worker());
      // The cache asks the breakers first; the fresh build's asking again changes nothing.
      const list = s.cache.allowed(s.registry.candidates(MODEL, 'whole'), s.breakers);
      assert.deepEqual(plain(list), fresh(s), `step ${step}`);
      assert.equal(
        list.loadTotal,
        list.reduce((t, c) => t + loadOf(c), 0),
        `total at step ${step}`,
      );
    }
  });
});
