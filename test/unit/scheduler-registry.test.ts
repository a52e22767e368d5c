import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Heartbeat } from '../../proto/heartbeat.ts';
import { Registry, type Pool } from '../../scheduler/registry.ts';
import { heartbeat } from '../helpers/fixtures.ts';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

/** A fake clock the test moves by hand. */
function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number): void => {
      t += ms;
    },
  };
}

const hb = (id: string, over: Partial<Heartbeat> = {}): Heartbeat => heartbeat(id, { models: [MODEL], ...over });

const ids = (l: readonly { id: string }[]): string[] => l.map((w) => w.id);

describe('registry', () => {
  test('registry - a first heartbeat adds the worker, with its URL trimmed', () => {
    const c = clock();
    const r = new Registry({ now: c.now });
    assert.equal(r.upsert(hb('w1', { url: 'http://w1:8000//' })), 'added');
    assert.equal(r.size, 1);
    const w = r.get('w1');
    assert.equal(w?.url, 'http://w1:8000');
    assert.equal(w?.lastSeen, c.now());
    assert.deepEqual(ids(r.all()), ['w1']);
  });

  test('registry - newer heartbeats update, stale or repeated ones are ignored', () => {
    const r = new Registry({ now: clock().now });
    r.upsert(hb('w1', { seq: 5, sentAt: 1000, load: { running: 1, waiting: 0, kvUsage: 0.1 } }));
    assert.equal(r.upsert(hb('w1', { seq: 6, sentAt: 2000, load: { running: 2, waiting: 0, kvUsage: 0.2 } })), 'updated');
    assert.equal(r.get('w1')?.load.running, 2);
    assert.equal(r.upsert(hb('w1', { seq: 4, sentAt: 1500, load: { running: 9, waiting: 9, kvUsage: 0.9 } })), 'stale', 'older send time');
    assert.equal(r.upsert(hb('w1', { seq: 6, sentAt: 2000, load: { running: 9, waiting: 9, kvUsage: 0.9 } })), 'stale', 'a duplicate');
    assert.equal(r.upsert(hb('w1', { seq: 5, sentAt: 2000, load: { running: 9, waiting: 9, kvUsage: 0.9 } })), 'stale', 'same time, lower seq');
    assert.equal(r.get('w1')?.load.running, 2);
    assert.equal(r.upsert(hb('w1', { seq: 7, sentAt: 2000, load: { running: 3, waiting: 0, kvUsage: 0.2 } })), 'updated', 'same time, higher seq');
    assert.equal(r.get('w1')?.load.running, 3);
  });

  test('registry - a restarted agent (sequence reset, newer send time) is accepted', () => {
    const r = new Registry({ now: clock().now });
    r.upsert(hb('w1', { seq: 500, sentAt: 10_000 }));
    assert.equal(r.upsert(hb('w1', { seq: 1, sentAt: 10_500, state: 'draining' })), 'updated');
    assert.equal(r.get('w1')?.seq, 1);
    assert.equal(r.get('w1')?.state, 'draining');
  });

  test('registry - a stale heartbeat does not keep a worker alive', () => {
    const c = clock();
    const r = new Registry({ now: c.now });
    r.upsert(hb('w1', { seq: 2, sentAt: 2000 }));
    c.advance(2500);
    r.upsert(hb('w1', { seq: 1, sentAt: 1000 }));
    c.advance(600);
    assert.deepEqual(r.expire(), ['w1']);
  });

  test('registry - a worker expires after 3 missed intervals of its own', () => {
    const c = clock();
    const r = new Registry({ now: c.now });
    r.upsert(hb('fast', { intervalMs: 100 }));
    r.upsert(hb('slow', { intervalMs: 1000 }));
    c.advance(300);
    assert.deepEqual(r.expire(), [], 'exactly 3 intervals is still alive');
    c.advance(1);
    assert.deepEqual(r.expire(), ['fast']);
    assert.equal(r.get('fast'), undefined);
    c.advance(2699);
    assert.deepEqual(r.expire(), []);
    c.advance(1);
    assert.deepEqual(r.expire(), ['slow']);
    assert.equal(r.size, 0);
  });

  test('registry - each heartbeat restarts the expiry countdown', () => {
    const c = clock();
    const r = new Registry({ now: c.now });
    for (let seq = 1; seq <= 10; seq++) {
      r.upsert(hb('w1', { seq, sentAt: seq * 1000 }));
      c.advance(2900);
      assert.deepEqual(r.expire(), []);
    }
    c.advance(101);
    assert.deepEqual(r.expire(), ['w1']);
  });

  test('registry - missedBeats is configurable', () => {
    const c = clock();
    const r = new Registry({ now: c.now, missedBeats: 5 });
    r.upsert(hb('w1'));
    c.advance(4000);
    assert.deepEqual(r.expire(), []);
    c.advance(1001);
    assert.deepEqual(r.expire(), ['w1']);
  });

  test('registry - an expired worker that comes back is added again', () => {
    const c = clock();
    const r = new Registry({ now: c.now });
    r.upsert(hb('w1', { seq: 9, sentAt: 9000 }));
    c.advance(5000);
    r.expire();
    assert.equal(r.upsert(hb('w1', { seq: 1, sentAt: 1000 })), 'added', 'even with an older send time: the old view is gone');
    assert.deepEqual(ids(r.candidates(MODEL, 'whole')), ['w1']);
  });

  test('registry - candidates exclude draining and unhealthy workers and other models', () => {
    const r = new Registry({ now: clock().now });
    r.upsert(hb('a'));
    r.upsert(hb('b', { state: 'draining' }));
    r.upsert(hb('c', { state: 'unhealthy' }));
    r.upsert(hb('d', { models: ['other'] }));
    r.upsert(hb('e', { models: ['other', MODEL] }));
    for (const pool of ['whole', 'prefill', 'decode'] as const) assert.deepEqual(ids(r.candidates(MODEL, pool)), ['a', 'e'], pool);
    assert.deepEqual(ids(r.candidates('other', 'whole')), ['d', 'e']);
    assert.deepEqual(ids(r.candidates('unknown', 'whole')), []);
  });

  const ROLES: [string, Heartbeat['role'][], Record<Pool, string[]>][] = [
    ['all roles', ['prefill', 'decode', 'both'], { whole: ['w-both', 'w-decode'], prefill: ['w-both', 'w-prefill'], decode: ['w-both', 'w-decode'] }],
    ['prefill and decode only', ['prefill', 'decode'], { whole: ['w-decode'], prefill: ['w-prefill'], decode: ['w-decode'] }],
    ['prefill only', ['prefill'], { whole: ['w-prefill'], prefill: ['w-prefill'], decode: [] }],
    ['decode only', ['decode'], { whole: ['w-decode'], prefill: [], decode: ['w-decode'] }],
    ['both only', ['both'], { whole: ['w-both'], prefill: ['w-both'], decode: ['w-both'] }],
  ];
  for (const [what, roles, want] of ROLES) {
    test(`registry - pools by role with ${what}`, () => {
      const r = new Registry({ now: clock().now });
      for (const role of roles) r.upsert(hb(`w-${role}`, { role }));
      for (const pool of ['whole', 'prefill', 'decode'] as const) assert.deepEqual(ids(r.candidates(MODEL, pool)), want[pool], pool);
    });
  }

  test('registry - candidates are sorted by id whatever the arrival order', () => {
    const r = new Registry({ now: clock().now });
    for (const id of ['w3', 'w10', 'w1', 'w2']) r.upsert(hb(id));
    assert.deepEqual(ids(r.candidates(MODEL, 'whole')), ['w1', 'w10', 'w2', 'w3']);
  });

  test('registry - cached candidate lists follow state changes and read current loads', () => {
    const r = new Registry({ now: clock().now });
    r.upsert(hb('a', { seq: 1 }));
    r.upsert(hb('b', { seq: 1 }));
    const before = r.candidates(MODEL, 'whole');
    assert.deepEqual(ids(before), ['a', 'b']);
    r.upsert(hb('a', { seq: 2, load: { running: 7, waiting: 2, kvUsage: 0.5 } }));
    const same = r.candidates(MODEL, 'whole');
    assert.equal(same.find((w) => w.id === 'a')?.load.running, 7);
    r.upsert(hb('a', { seq: 3, state: 'draining' }));
    assert.deepEqual(ids(r.candidates(MODEL, 'whole')), ['b']);
    r.upsert(hb('a', { seq: 4, state: 'ready' }));
    assert.deepEqual(ids(r.candidates(MODEL, 'whole')), ['a', 'b']);
    r.remove('b');
    assert.deepEqual(ids(r.candidates(MODEL, 'whole')), ['a']);
  });

  test('registry - version bumps on changes of the candidate set, not on load updates', () => {
    const c = clock();
    const r = new Registry({ now: c.now });
    let v = r.version;
    const bumped = (): boolean => {
      const changed = r.version !== v;
      assert.ok(r.version >= v, 'the version never goes back');
      v = r.version;
      return changed;
    };
    r.upsert(hb('a', { seq: 1 }));
    assert.ok(bumped(), 'join');
    r.upsert(hb('a', { seq: 2, load: { running: 5, waiting: 5, kvUsage: 0.5 } }));
    assert.ok(!bumped(), 'load only');
    r.upsert(hb('a', { seq: 3, state: 'draining' }));
    assert.ok(bumped(), 'state');
    r.upsert(hb('a', { seq: 4, state: 'draining', role: 'decode' }));
    assert.ok(bumped(), 'role');
    r.upsert(hb('a', { seq: 5, state: 'draining', role: 'decode', models: [MODEL, 'm2'] }));
    assert.ok(bumped(), 'models');
    assert.equal(r.upsert(hb('a', { seq: 6, state: 'draining', role: 'decode', models: [MODEL, 'm2'], url: 'http://elsewhere:1' })), 'conflict');
    assert.ok(!bumped(), 'another URL for a live worker is refused');
    r.upsert(hb('a', { seq: 1, sentAt: 1 }));
    assert.ok(!bumped(), 'stale');
    assert.equal(r.remove('nope'), false);
    assert.ok(!bumped(), 'removing an unknown worker');
    assert.equal(r.remove('a'), true);
    assert.ok(bumped(), 'leave');
    r.upsert(hb('b'));
    bumped();
    assert.deepEqual(r.expire(), []);
    assert.ok(!bumped(), 'nothing expired');
    c.advance(3001);
    r.expire();
    assert.ok(bumped(), 'expiry');
  });

  test('registry - knows any model advertised in any state; models() counts ready workers', () => {
    const r = new Registry({ now: clock().now });
    r.upsert(hb('a'));
    r.upsert(hb('b', { models: [MODEL, 'm2'] }));
    r.upsert(hb('c', { models: ['m3'], state: 'draining' }));
    assert.ok(r.knows(MODEL));
    assert.ok(r.knows('m3'), 'known though unavailable: 503, not 404');
    assert.ok(!r.knows('nope'));
    assert.deepEqual(
      r.models(),
      new Map([
        [MODEL, 2],
        ['m2', 1],
      ]),
    );
  });

  test('registry - asking for unknown models does not grow the cache', () => {
    // Observable only as correctness: lists for an unknown model stay empty, then fill when it appears.
    const r = new Registry({ now: clock().now });
    for (let i = 0; i < 100; i++) assert.deepEqual(r.candidates(`m${i}`, 'whole'), []);
    r.upsert(hb('a', { models: ['m1'] }));
    assert.deepEqual(ids(r.candidates('m1', 'whole')), ['a']);
  });
});

test('registry - a model stays known for a while after its last worker left (503, not 404)', () => {
  let now = 0;
  const r = new Registry({ now: () => now, modelMemoryMs: 1000 });
  r.upsert({
    v: 1,
    id: 'w',
    agent: 'a',
    url: 'http://h:1',
    region: 'r',
    models: ['m'],
    role: 'both',
    connector: { kind: 'none' },
    state: 'ready',
    load: { running: 0, waiting: 0, kvUsage: 0 },
    kv: { blockSize: 16, numBlocks: 1 },
    seq: 1,
    sentAt: 1,
    intervalMs: 100,
  });
  now = 400;
  assert.deepEqual(r.expire(), ['w']);
  assert.equal(r.knows('m'), true);
  now = 1400;
  assert.equal(r.knows('m'), true);
  now = 1401;
  assert.equal(r.knows('m'), false);
});

test('registry - a live worker id is bound to its agent and URL; free again once it expires or leaves', () => {
  const c = clock();
  const r = new Registry({ now: c.now });
  assert.equal(r.upsert(hb('w', { seq: 1, agent: 'agent-1', url: 'http://10.0.0.5:8000' })), 'added');
  assert.equal(r.upsert(hb('w', { seq: 2, agent: 'agent-1', url: 'http://10.0.0.5:8000/' })), 'updated', 'a trailing slash is the same URL');
  assert.equal(r.upsert(hb('w', { seq: 3, agent: 'agent-2', url: 'http://10.0.0.5:8000' })), 'conflict', 'another agent');
  assert.equal(r.upsert(hb('w', { seq: 4, agent: 'agent-1', url: 'http://10.0.0.6:8000' })), 'conflict', 'another URL, even from its agent');
  assert.equal(r.upsert(hb('w', { seq: 5, agent: 'agent-2', url: 'http://evil:1', sentAt: 1e15 })), 'conflict', 'the conflict is found before any ordering');
  assert.equal(r.get('w')!.url, 'http://10.0.0.5:8000');
  assert.equal(r.get('w')!.agent, 'agent-1');
  c.advance(3001);
  assert.deepEqual(r.expire(), ['w']);
  assert.equal(r.upsert(hb('w', { seq: 6, agent: 'agent-2', url: 'http://10.0.0.6:8000' })), 'added', 'expired: the id is free');
  assert.equal(r.remove('w'), true);
  assert.equal(r.upsert(hb('w', { seq: 7, agent: 'agent-1', url: 'http://10.0.0.5:8000' })), 'added', 'removed: the id is free');
});
