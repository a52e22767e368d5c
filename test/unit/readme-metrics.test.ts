// Keeps the README's metrics table and the metrics the processes register in step.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Registry as PromRegistry } from 'prom-client';
import { registerAuditMetrics } from '../../audit/metrics.ts';
import { IngressMetrics } from '../../ingress/metrics.ts';
import { CircuitBreakers, BREAKER_DEFAULTS } from '../../scheduler/circuit-breaker.ts';
import { InflightTracker } from '../../scheduler/inflight.ts';
import { SchedulerMetrics } from '../../scheduler/metrics.ts';
import { Registry } from '../../scheduler/registry.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const documented = new Set([...readme.matchAll(/^\| `(llm_router_[a-z_]+)` \|/gm)].map((m) => m[1]!));

function registered(): Set<string> {
  const names = new Set<string>();
  const sched = new SchedulerMetrics({
    schedulerId: 's',
    fleet: new Registry({ now: () => 0 }),
    breakers: new CircuitBreakers(BREAKER_DEFAULTS, () => 0),
    inflight: new InflightTracker('s', () => 0),
    outboxes: { stats: { bundles: 0, frames: 0, bytes: 0, failed: 0 } },
  });
  const ingress = new IngressMetrics('i', () => 0);
  // The audit publisher's, registered by the processes that audit.
  const audit = new PromRegistry();
  registerAuditMetrics(audit, () => null);
  for (const r of [sched.registry, ingress.registry, audit]) for (const m of r.getMetricsAsArray()) names.add(m.name);
  // NATS metrics need a connection; they are registered by runtime/nats-metrics.ts.
  names.add('llm_router_nats_connected');
  names.add('llm_router_nats_events_total');
  return names;
}

test('readme metrics - every registered metric is documented', () => {
  assert.deepEqual(
    [...registered()].filter((n) => !documented.has(n)),
    [],
  );
});

test('readme metrics - the README documents no metric that does not exist', () => {
  const names = registered();
  assert.deepEqual(
    [...documented].filter((n) => !names.has(n)),
    [],
  );
});
