// runtime/bus-state.ts over a real nats-server that goes away and comes back: one status loop per
// connection, and everything that follows the connection (its BusState, its log lines, its
// Prometheus gauge and event counter) sees the same outage from it.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { Registry } from 'prom-client';
import { BusState } from '../../runtime/bus-state.ts';
import { connectNats } from '../../runtime/nats.ts';
import { registerNatsMetrics } from '../../runtime/nats-metrics.ts';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.ts';
import { eventually } from '../helpers/sim.ts';
import { cleanupScope } from '../helpers/stack.ts';

async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = registry.getSingleMetric(name);
  assert.ok(m, name);
  const v = (await m.get()).values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value;
}

describe('bus-state', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  const lines: { msg: string; nats?: string }[] = [];
  let statusCalls = 0;
  const scope = cleanupScope();

  before(async () => {
    nats = await startNatsServer(scope, { jetstream: false });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as { msg: string; nats?: string });
        done();
      },
    });
    nc = await connectNats({ servers: nats.url, name: 'bus-state-test', inboxPrefix: '_INBOX_test' }, pino({ level: 'warn' }, sink));
    // From here on, count who else asks the connection for its status events.
    const status = nc.status.bind(nc);
    nc.status = () => {
      statusCalls++;
      return status();
    };
  });
  after(async () => {
    await nc?.close();
    await scope.run();
  });

  test('bus-state - a connection has one BusState, and its readers add no status loop', () => {
    const bus = BusState.of(nc);
    assert.equal(BusState.of(nc), bus);
    registerNatsMetrics(new Registry(), nc);
    registerNatsMetrics(new Registry(), nc);
    assert.equal(statusCalls, 0, 'connectNats started the one loop; BusState.of and the metrics reuse it');
    assert.equal(bus.up, true);
  });

  test('bus-state - an outage and the return are seen by the state, its listeners, the log and the metrics', async () => {
    const bus = BusState.of(nc);
    const registry = new Registry();
    registerNatsMetrics(registry, nc);
    const seen: string[] = [];
    bus.onDown(() => seen.push('down'));
    bus.onUp(() => seen.push('up'));
    assert.equal(await value(registry, 'llm_router_nats_connected'), 1);
    assert.equal(await value(registry, 'llm_router_nats_events_total', { event: 'disconnect' }), 0);

    await nats.stop();
    await eventually(() => !bus.up, 'the state says down');
    assert.equal(await value(registry, 'llm_router_nats_connected'), 0);
    assert.ok((await value(registry, 'llm_router_nats_events_total', { event: 'disconnect' }))! >= 1);
    assert.ok(
      lines.some((l) => l.nats === 'disconnect'),
      'the disconnect is logged',
    );
    const back = bus.whenUp(30_000);

    await nats.start();
    assert.equal(await back, true, 'a waiter is released when the bus comes back');
    assert.equal(bus.up, true);
    assert.equal(await value(registry, 'llm_router_nats_connected'), 1);
    assert.ok((await value(registry, 'llm_router_nats_events_total', { event: 'reconnect' }))! >= 1);
    assert.ok(
      lines.some((l) => l.nats === 'reconnect'),
      'the reconnect is logged',
    );
    assert.deepEqual(seen, ['down', 'up'], 'each listener hears each edge once');
    assert.equal(statusCalls, 0);
  });

  test('bus-state - a closed connection is down, and waiting for it gives up at once', async () => {
    const other = await connectNats({ servers: nats.url, name: 'bus-state-closed', inboxPrefix: '_INBOX_test' }, pino({ level: 'silent' }));
    const bus = BusState.of(other);
    await other.close();
    assert.equal(bus.up, false);
    assert.equal(await bus.whenUp(10_000), false);
  });
});
