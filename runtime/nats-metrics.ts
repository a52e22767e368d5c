// Process health (prom-client's default metrics) and NATS connection health as Prometheus
// metrics, for every process that has a connection. The connection's state and events come from
// its BusState, which follows the connection's status once for every reader.
import type { NatsConnection } from '@nats-io/transport-node';
import { collectDefaultMetrics, Counter, Gauge, type Registry } from 'prom-client';
import { BusState } from './bus-state.ts';

export function registerNatsMetrics(registry: Registry, nc: NatsConnection): void {
  const registers = [registry];
  // The process itself (CPU, resident memory, heap, event-loop lag, GC), under our prefix.
  collectDefaultMetrics({ register: registry, prefix: 'llm_router_' });
  // These gauges end in _total, which Prometheus reserves for counters (promtool rejects them).
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(`llm_router_${name}`);
  const bus = BusState.of(nc);
  new Gauge({
    name: 'llm_router_nats_connected',
    help: '1 while connected to NATS, 0 while disconnected or reconnecting.',
    registers,
    collect() {
      this.set(bus.up ? 1 : 0);
    },
  });
  const events = new Counter({ name: 'llm_router_nats_events_total', help: 'NATS connection events: disconnect, reconnect, error, slow consumer…', labelNames: ['event'], registers });
  for (const event of ['disconnect', 'reconnect']) events.inc({ event }, 0);
  bus.onStatus((s) => events.inc({ event: s.type }));
}
