import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BREAKER_DEFAULTS, CircuitBreakers } from '../../scheduler/circuit-breaker.ts';
import { SchedulerCounters } from '../../scheduler/counters.ts';
import { InflightTracker } from '../../scheduler/inflight.ts';
import { SchedulerMetrics } from '../../scheduler/metrics.ts';
import { Registry } from '../../scheduler/registry.ts';

function metrics(): SchedulerMetrics {
  return new SchedulerMetrics({
    schedulerId: 's',
    fleet: new Registry({ now: () => 0 }),
    breakers: new CircuitBreakers(BREAKER_DEFAULTS, () => 0),
    inflight: new InflightTracker('s', () => 0),
    outboxes: { stats: { bundles: 0, frames: 0, bytes: 0, failed: 0 } },
  });
}

/** The values of one metric as the scrape shows them, by their labels (the scheduler label left out). */
async function scraped(m: SchedulerMetrics, name: string): Promise<Record<string, number>> {
  const metric = m.registry.getSingleMetric(name);
  assert.ok(metric, name);
  const out: Record<string, number> = {};
  for (const v of (await metric.get()).values) {
    const { scheduler: _, ...labels } = v.labels as Record<string, string>;
    out[Object.values(labels).join('/')] = v.value;
  }
  return out;
}

describe('scheduler-counters', () => {
  test('scheduler-counters - a fresh replica has counted nothing', () => {
    const c = new SchedulerCounters();
    assert.deepEqual(
      {
        accepted: c.accepted,
        completed: c.completed,
        failed: c.failed,
        cancelled: c.cancelled,
        heartbeats: c.heartbeats,
        heartbeatsInvalid: c.heartbeatsInvalid,
        malformedRequests: c.malformedRequests,
      },
      { accepted: 0, completed: 0, failed: 0, cancelled: 0, heartbeats: 0, heartbeatsInvalid: 0, malformedRequests: 0 },
    );
    assert.deepEqual(c.decisions, { disaggregate: 0, short_prompt: 0, prefill_saturated: 0, decode_sooner: 0, no_prefill_worker: 0 });
  });

  test('scheduler-counters - totals are sums over models and outcomes', () => {
    const c = new SchedulerCounters();
    c.countAccepted();
    c.countAccepted();
    c.countAccepted();
    c.countMalformed();
    c.countCancelled();
    c.countFinished('m1', 'ok');
    c.countFinished('m2', 'ok');
    c.countFinished('m1', 'cancelled');
    c.countFinished('_unknown', 'LLMR_ERR_MODEL_NOT_FOUND');
    c.countHeartbeat('accepted');
    c.countHeartbeat('accepted');
    c.countHeartbeat('invalid');
    c.countHeartbeat('not_allowed');
    c.countHeartbeat('conflict');
    c.countDecision('m1', 'disaggregate');
    c.countDecision('m2', 'disaggregate');
    c.countDecision('m1', 'short_prompt');
    assert.equal(c.accepted, 3);
    assert.equal(c.malformedRequests, 1);
    assert.equal(c.cancelled, 1);
    assert.equal(c.completed, 3, 'answered and cancelled requests');
    assert.equal(c.failed, 1);
    assert.equal(c.heartbeats, 2);
    assert.equal(c.heartbeatsInvalid, 3, 'undecodable and refused beats');
    assert.equal(c.decisions.disaggregate, 2);
    assert.equal(c.decisions.short_prompt, 1);
    assert.equal(c.decisions.no_prefill_worker, 0);
  });

  test('scheduler-counters - the Prometheus counters show what the counters hold, by label', async () => {
    const m = metrics();
    const c = m.counters;
    c.countFinished('m1', 'ok');
    c.countFinished('m1', 'ok');
    c.countFinished('m1', 'LLMR_ERR_NO_WORKER');
    c.countHeartbeat('accepted');
    c.countHeartbeat('future');
    c.countCancelled();
    m.decision('m1', 'decode_sooner');
    assert.deepEqual(await scraped(m, 'llm_router_scheduler_requests_total'), { 'm1/ok': 2, 'm1/LLMR_ERR_NO_WORKER': 1 });
    assert.deepEqual(await scraped(m, 'llm_router_heartbeats_total'), { accepted: 1, future: 1 });
    assert.deepEqual(await scraped(m, 'llm_router_cancels_total'), { '': 1 });
    assert.deepEqual(await scraped(m, 'llm_router_pd_decisions_total'), { 'm1/decode_sooner': 1 });
    assert.equal(c.decisions.decode_sooner, 1, "dispatch's decision events land in the same counters");
    // A second scrape shows the same numbers, not twice them.
    c.countCancelled();
    assert.deepEqual(await scraped(m, 'llm_router_cancels_total'), { '': 2 });
    assert.deepEqual(await scraped(m, 'llm_router_scheduler_requests_total'), { 'm1/ok': 2, 'm1/LLMR_ERR_NO_WORKER': 1 });
  });

  test('scheduler-counters - nothing counted, no labelled series (as before: only the unlabelled cancels show 0)', async () => {
    const m = metrics();
    assert.deepEqual(await scraped(m, 'llm_router_scheduler_requests_total'), {});
    assert.deepEqual(await scraped(m, 'llm_router_heartbeats_total'), {});
    assert.deepEqual(await scraped(m, 'llm_router_pd_decisions_total'), {});
    assert.deepEqual(await scraped(m, 'llm_router_cancels_total'), { '': 0 });
  });
});
