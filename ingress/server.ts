// The ingress process: NATS connection, the stream client, the fastify app, and an orderly stop.
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { errors } from '../proto/errors.ts';
import { buildApp } from './app.ts';
import { INGRESS_DEFAULTS, type IngressOptions } from './options.ts';
import { StreamClient } from './stream-client.ts';
import { BusState } from '../runtime/bus-state.ts';
import { IngressMetrics } from './metrics.ts';
import { registerNatsMetrics } from '../runtime/nats-metrics.ts';

/** Room kept in a NATS message for our headers next to the client's body. */
const HEADER_ROOM = 16 * 1024;

export interface Ingress {
  readonly app: FastifyInstance;
  readonly options: Readonly<IngressOptions & { bodyLimit: number }>;
  readonly streams: StreamClient;
  readonly url: string;
  stop(graceMs?: number): Promise<void>;
}

/** The body limit in force: the one asked for (which must fit the bus), or as much as the bus allows up to the default. */
export function effectiveBodyLimit(asked: number | null, maxPayload: number): number {
  if (asked === null) return Math.min(INGRESS_DEFAULTS.bodyLimit, maxPayload - HEADER_ROOM);
  if (asked + HEADER_ROOM > maxPayload) {
    throw new RangeError(
      `body limit ${asked} B does not fit the bus's max_payload ${maxPayload} B (with ${HEADER_ROOM} B for headers): lower --body-limit or raise max_payload in nats.conf`,
    );
  }
  return asked;
}

export async function startIngress(nc: NatsConnection, asked: Readonly<IngressOptions>, log: Logger): Promise<Ingress> {
  const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
  const options = { ...asked, bodyLimit: effectiveBodyLimit(asked.bodyLimit, maxPayload) };
  if (asked.bodyLimit === null && options.bodyLimit < INGRESS_DEFAULTS.bodyLimit)
    log.warn({ bodyLimit: options.bodyLimit, maxPayload }, 'body limit lowered to fit the bus: raise max_payload in nats.conf for larger requests');
  const streams = new StreamClient(nc, options.id, options, log);
  const bus = new BusState(nc);
  // Frames published while we are away are lost; say so now rather than at the idle timeout.
  bus.onDown(() => streams.failAll(() => errors.LLMR_ERR_BUS_UNAVAILABLE('disconnected from NATS')));
  await streams.start();
  let closing = false;
  const metrics = new IngressMetrics(options.id, () => streams.openStreams);
  registerNatsMetrics(metrics.registry, nc);
  const app = buildApp({ options, nc, streams, log, bus, closing: () => closing, metrics });
  const address = await app.listen(options.socketPath ? { path: options.socketPath } : { host: options.host, port: options.port });
  log.info({ address }, 'ingress listening');
  return {
    app,
    options,
    streams,
    url: address,
    /**
     * Graceful stop: refuse new requests, let open streams finish for up to `graceMs`, then fail
     * what is left (SSE clients get an error event) and close every connection.
     */
    async stop(graceMs = 10_000) {
      closing = true;
      const closed = app.close();
      const deadline = Date.now() + graceMs;
      while (streams.openStreams > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      await streams.stop();
      app.server.closeAllConnections();
      await closed;
    },
  };
}
