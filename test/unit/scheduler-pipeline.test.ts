import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pipelinePolicy } from '../../scheduler/policies/pipeline.ts';
import { createPolicy } from '../../scheduler/policies/index.ts';
import { maxScorePicker } from '../../scheduler/policies/max-score-picker.ts';
import { activeRequestScorer, kvCacheScorer, prefixScorer, queueScorer } from '../../scheduler/policies/scorers.ts';
import type { Candidate, Filter, RequestFeatures, Scorer } from '../../scheduler/policies/types.ts';
import { workerView } from '../helpers/fixtures.ts';
import { mulberry32 } from '../helpers/random.ts';

function cand(id: string, o: { waiting?: number; kv?: number; inflight?: number } = {}): Candidate {
  return { worker: workerView(id, { models: ['m'], load: { running: 0, waiting: o.waiting ?? 0, kvUsage: o.kv ?? 0 } }), inflight: o.inflight ?? 0 };
}

const req = (prefix: Record<string, number> = {}): RequestFeatures => ({ model: 'm', routingKey: null, prefixMatch: (id) => prefix[id] ?? 0 });
const ctx = { random: mulberry32(1) };

describe('pipeline and llm-d scorers', () => {
  test('scorers - table of raw signals to [0, 1] scores', () => {
    const c = [cand('a', { waiting: 0, kv: 0.2, inflight: 1 }), cand('b', { waiting: 5, kv: 0.9, inflight: 3 }), cand('c', { waiting: 10, kv: 0.5, inflight: 5 })];
    const table: [Scorer, RequestFeatures, number[]][] = [
      [queueScorer, req(), [1, 0.5, 0]],
      [kvCacheScorer, req(), [0.8, 0.09999999999999998, 0.5]],
      [activeRequestScorer, req(), [1, 0.5, 0]],
      [prefixScorer, req({ b: 0.75 }), [0, 0.75, 0]],
    ];
    for (const [scorer, r, want] of table) assert.deepEqual(scorer.score(c, r), want, scorer.type);
    assert.deepEqual(queueScorer.score([cand('x', { waiting: 3 }), cand('y', { waiting: 3 })], req()), [1, 1], 'all equal score 1');
  });

  test('pipeline - weighted sum, max score, and an explain record', () => {
    const p = pipelinePolicy('t', {
      filters: [],
      scorers: [
        { scorer: queueScorer, weight: 1 },
        { scorer: prefixScorer, weight: 3 },
      ],
      picker: maxScorePicker,
    });
    const c = [cand('idle'), cand('warm', { waiting: 4 })];
    // warm: queue 0 + prefix 1×3 = 3 beats idle: 1 + 0.
    assert.equal(p.pick(c, req({ warm: 1 }), ctx)?.worker.id, 'warm');
    assert.equal(p.lastExplain?.picked, 'warm');
    assert.equal(p.lastExplain?.scores.warm?.total, 3);
    assert.ok((p.lastExplain?.timings.total ?? -1) >= 0);
    assert.deepEqual([...p.consumes].sort(), ['load.waiting', 'prefix']);
  });

  test('pipeline - a filter that would empty the field is skipped', () => {
    const none: Filter = { type: 'none', consumes: [], filter: () => [] };
    const p = pipelinePolicy('t', { filters: [none], scorers: [{ scorer: queueScorer, weight: 1 }], picker: maxScorePicker });
    assert.ok(p.pick([cand('a')], req(), ctx));
  });

  test('pipeline - ties are broken at random', () => {
    const p = pipelinePolicy('t', { filters: [], scorers: [{ scorer: queueScorer, weight: 1 }], picker: maxScorePicker });
    const seen = new Set<string>();
    const r = mulberry32(7);
    for (let i = 0; i < 50; i++) seen.add(p.pick([cand('a'), cand('b'), cand('c')], req(), { random: r })!.worker.id);
    assert.equal(seen.size, 3);
  });

  test('llmd - prefers the worker holding the prefix unless its queue and KV outweigh it', () => {
    const p = createPolicy('llmd');
    assert.equal(p.pick([cand('a'), cand('b')], req({ b: 1 }), ctx)?.worker.id, 'b');
    // b holds the prefix (3) but is the most queued (0) and nearly full (2 × 0.05): a wins with 2 + 2 × 1.
    assert.equal(p.pick([cand('a'), cand('b', { waiting: 20, kv: 0.95 })], req({ b: 1 }), ctx)?.worker.id, 'a');
  });
});
