// Fleet-aware shedding's pure parts: when a worker counts as saturated (its heartbeat corrected by
// the router's own traffic since), the hold queue's order and bound, and the shedder's holding,
// releasing, refusing and dropping.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RouterError } from '../../proto/errors.ts';
import { HeldQueue } from '../../scheduler/held-queue.ts';
import type { WorkerView } from '../../scheduler/registry.ts';
import { Saturation } from '../../scheduler/saturation.ts';
import { Shedder, type HeldResult, type Holdable } from '../../scheduler/shedder.ts';
import { worthRetrying } from '../../scheduler/whole.ts';

function worker(id: string, load: Partial<WorkerView['load']> = {}): WorkerView {
  return {
    id,
    agent: 'a',
    url: `http://${id}:8000`,
    region: 'r',
    models: ['m'],
    role: 'both',
    connector: { kind: 'none' },
    state: 'ready',
    load: { running: 8, waiting: 0, kvUsage: 0.5, ...load },
    kv: { blockSize: 16, numBlocks: 1000 },
    intervalMs: 1000,
    lastSeen: 0,
    seq: 1,
    sentAt: 0,
  };
}

const LIMITS = { maxWaiting: 5, maxKvUsage: 0.95, maxInFlight: null, maxQueuedPromptTokens: null };

describe('saturation', () => {
  test("saturation - a worker's queue is its heartbeat's plus what the routers started on it since, while it queues", () => {
    const inflight = new Map<string, number>([['w', 10]]);
    const s = new Saturation(LIMITS, (id) => inflight.get(id) ?? 0);
    const queueing = worker('w', { waiting: 3 });
    s.beat('w');
    assert.equal(s.waiting(queueing), 3);
    assert.equal(s.saturated(queueing), false);
    inflight.set('w', 12);
    assert.equal(s.waiting(queueing), 5, 'two more started since the beat');
    assert.equal(s.saturated(queueing), true);
    inflight.set('w', 7);
    assert.equal(s.waiting(queueing), 0, 'five ended since: never below 0');
    // A worker that was not queueing at its beat is not assumed to queue until a beat says so.
    inflight.set('w', 100);
    assert.equal(s.waiting(worker('w', { waiting: 0 })), 0);
    s.beat('w');
    assert.equal(s.waiting(queueing), 3, 'a new beat starts the estimate again');
  });

  test('saturation - a full KV cache, the in-flight cap or the queued prompt tokens saturate a worker too; none at all is not "saturated"', () => {
    const inflight = new Map<string, number>([['w', 4]]);
    const s = new Saturation({ ...LIMITS, maxInFlight: 4 }, (id) => inflight.get(id) ?? 0);
    assert.equal(s.saturated(worker('w')), true, 'the in-flight cap');
    inflight.set('w', 3);
    assert.equal(s.saturated(worker('w')), false);
    assert.equal(s.saturated(worker('w', { kvUsage: 0.96 })), true, 'KV');
    assert.equal(s.allSaturated([]), false);
    const prefill = new Map<string, number>([['w', 4096]]);
    const byTokens = new Saturation(
      { ...LIMITS, maxQueuedPromptTokens: 4096 },
      () => 0,
      (id) => prefill.get(id) ?? 0,
    );
    assert.equal(byTokens.saturated(worker('w')), true, 'prompt tokens queued');
    prefill.set('w', 4095);
    assert.equal(byTokens.saturated(worker('w')), false);
    assert.equal(s.allSaturated([worker('w', { kvUsage: 1 }), worker('v')]), false);
    assert.equal(s.allSaturated([worker('w', { kvUsage: 1 }), worker('v', { kvUsage: 1 })]), true);
  });
});

describe('held queue', () => {
  test('held queue - per model, the lowest priority number first, FIFO within one; bounded in all', () => {
    const q = new HeldQueue<string>(5);
    assert.ok(q.hold('m', 0, 'a'));
    assert.ok(q.hold('m', 5, 'b'));
    assert.ok(q.hold('m', -2, 'c'));
    assert.ok(q.hold('m', 0, 'd'));
    assert.ok(q.hold('other', 0, 'e'));
    assert.equal(q.hold('m', 0, 'f'), false, 'full');
    assert.equal(q.heldFor('m'), 4);
    assert.deepEqual([q.shift('m'), q.shift('m'), q.shift('m'), q.shift('m'), q.shift('m')], ['c', 'a', 'd', 'b', undefined]);
    assert.deepEqual(q.models(), ['other']);
    assert.equal(q.remove('other', 0, 'e'), true);
    assert.equal(q.remove('other', 0, 'e'), false);
    assert.equal(q.size, 0);
    assert.deepEqual(q.models(), [], 'nothing left behind for models or priorities that emptied');
  });
});

describe('shedder', () => {
  /** Two workers whose saturation the test sets by hand. */
  function rig(o: { queueSize?: number; queueTimeoutMs?: number } = {}) {
    const saturated = new Set<string>(['w1', 'w2']);
    const workers = [worker('w1'), worker('w2')];
    const results: HeldResult[] = [];
    const shedder = new Shedder(
      { ...LIMITS, queueSize: o.queueSize ?? 10, queueTimeoutMs: o.queueTimeoutMs ?? 60_000 },
      {
        saturation: {
          saturated: (w) => saturated.has(w.id),
          allSaturated: (ws) => ws.length > 0 && ws.every((w) => saturated.has(w.id)),
        },
        workersOf: () => workers,
        events: { held: (r) => results.push(r) },
      },
    );
    const log: string[] = [];
    const req = (name: string, priority = 0): Holdable & { ended?: RouterError | null } => {
      const r: Holdable & { ended?: RouterError | null } = {
        model: 'm',
        priority,
        start: () => log.push(`start ${name}`),
        end: (e) => {
          r.ended = e;
          log.push(`end ${name}`);
        },
      };
      return r;
    };
    return { shedder, saturated, results, log, req };
  }

  test('shedder - a request for a model with room goes at once; with every worker saturated it is held until room comes', () => {
    const { shedder, saturated, log, req, results } = rig();
    saturated.clear();
    assert.equal(shedder.admit(req('now'), new AbortController().signal), false);
    saturated.add('w1').add('w2');
    assert.equal(shedder.admit(req('a'), new AbortController().signal), true);
    assert.equal(shedder.admit(req('urgent', -1), new AbortController().signal), true);
    assert.equal(shedder.held, 2);
    assert.deepEqual(log, []);
    saturated.delete('w2');
    shedder.pump('m');
    // One worker with room: one released per pass, the most urgent first.
    assert.deepEqual(log, ['start urgent']);
    shedder.pump('m');
    assert.deepEqual(log, ['start urgent', 'start a']);
    assert.deepEqual(results, ['released', 'released']);
    shedder.stop();
  });

  test('shedder - while requests are held a newcomer queues behind them even if room just came', () => {
    const { shedder, saturated, log, req } = rig();
    shedder.admit(req('first'), new AbortController().signal);
    saturated.clear();
    // The newcomer's admit pumps: the one held goes first.
    assert.equal(shedder.admit(req('second'), new AbortController().signal), true);
    assert.deepEqual(log, ['start first', 'start second']);
  });

  test('shedder - a full queue refuses at once (503 with Retry-After); a client leaving is dropped quietly; a stop refuses the rest', () => {
    const { shedder, log, req, results } = rig({ queueSize: 1 });
    const ac = new AbortController();
    shedder.admit(req('held'), ac.signal);
    const refused = req('refused');
    shedder.admit(refused, new AbortController().signal);
    assert.equal(refused.ended?.code, 'LLMR_ERR_FLEET_SATURATED');
    assert.equal(refused.ended?.statusCode, 503);
    assert.ok((refused.ended?.retryAfterS ?? 0) >= 1);
    ac.abort();
    assert.equal(shedder.held, 0);
    const last = req('last');
    shedder.admit(last, new AbortController().signal);
    shedder.stop();
    assert.equal(last.ended?.code, 'LLMR_ERR_SHUTTING_DOWN');
    assert.deepEqual(log, ['end refused', 'end held', 'end last']);
    assert.deepEqual(results, ['full', 'cancelled']);
  });

  test('shedder - a request held past the timeout is refused with LLMR_ERR_FLEET_SATURATED', async () => {
    const { shedder, req, results } = rig({ queueTimeoutMs: 30 });
    const r = req('slow');
    shedder.admit(r, new AbortController().signal);
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(r.ended?.code, 'LLMR_ERR_FLEET_SATURATED');
    assert.match(r.ended?.message ?? '', /waited \d+ ms/);
    assert.deepEqual(results, ['timeout']);
    assert.equal(shedder.held, 0);
  });
});

describe('retries while saturated', () => {
  test('a 429 or 503 while every worker of the model is saturated is the answer, not retried; anything else still is', () => {
    const denied: string[] = [];
    const events = { retryDenied: (_m: string, reason: string) => void denied.push(reason) } as Parameters<typeof worthRetrying>[0]['events'];
    const saturated = { saturated: () => true, events };
    const roomy = { saturated: () => false, events };
    assert.equal(worthRetrying(saturated, 'm', 503), false);
    assert.equal(worthRetrying(saturated, 'm', 429), false);
    assert.equal(worthRetrying(saturated, 'm', 500), true, 'a failing worker is still worth leaving');
    assert.equal(worthRetrying(roomy, 'm', 503), true);
    assert.equal(worthRetrying({ events }, 'm', 503), true, 'no shedder: never saturated');
    assert.deepEqual(denied, ['fleet_saturated', 'fleet_saturated']);
  });
});
