// The audit publisher's metrics, for whichever process publishes (ingress, scheduler): records
// stored, dropped and failed, what waits, and how long a record took to be acknowledged.
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { BucketHistogram } from '../runtime/bucket-histogram.ts';
import { AUDIT_PUBLISHER_DEFAULTS, AuditPublisher, type AuditPublisherOptions, type AuditStats } from './publisher.ts';

const LAG = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Registers the metrics; the returned function observes one acknowledgement's lag (seconds). */
export function registerAuditMetrics(registry: Registry, stats: () => AuditStats | null): (seconds: number) => void {
  const registers = [registry];
  const counter = (name: string, help: string, read: (s: AuditStats) => number): void =>
    void new Counter({
      name,
      help,
      registers,
      collect() {
        const s = stats();
        this.reset();
        if (s) this.inc(read(s));
      },
    });
  counter('llm_router_audit_records_published_total', 'Audit records stored in LLM_AUDIT (acknowledged by JetStream).', (s) => s.published);
  counter('llm_router_audit_records_dropped_total', 'Audit records dropped (--audit best_effort: the publish window was full, or JetStream failed them).', (s) => s.dropped);
  counter('llm_router_audit_publish_failures_total', 'Audit publishes that failed (then dropped, or retried under --audit required).', (s) => s.failures);
  new Gauge({
    name: 'llm_router_audit_records_pending',
    help: 'Audit records waiting for their acknowledgement or for a retry.',
    registers,
    collect() {
      this.set(stats()?.pending ?? 0);
    },
  });
  const lag = new BucketHistogram({
    name: 'llm_router_audit_publish_lag_seconds',
    help: 'From handing an audit record over to its acknowledgement by JetStream.',
    labelNames: [],
    buckets: LAG,
    registers,
  });
  const series = lag.series();
  return (s) => series.observe(s);
}

/** A publisher with its metrics on `registry`: what each auditing process (ingress, scheduler) runs. */
export function startAuditPublisher(nc: NatsConnection, o: Pick<AuditPublisherOptions, 'mode' | 'region' | 'source'>, log: Logger, registry: Registry): AuditPublisher {
  let publisher: AuditPublisher | null = null;
  const onLag = registerAuditMetrics(registry, () => publisher?.stats ?? null);
  publisher = new AuditPublisher(nc, { ...AUDIT_PUBLISHER_DEFAULTS, ...o, onLag }, log);
  return publisher;
}
