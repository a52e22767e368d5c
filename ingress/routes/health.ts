// Liveness and readiness. /health: the process is up. /readiness: the bus is up, a scheduler
// answers, and it knows at least one ready worker — what a load balancer in front of the
// ingresses should check before sending traffic.
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import type { BusState } from '../../runtime/bus-state.ts';
import { schedulerInfo } from '../scheduler-info.ts';

export function healthRoutes(app: FastifyInstance, deps: { readonly nc: NatsConnection; readonly bus: BusState }): void {
  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/readiness', async (_request, reply) => {
    if (!deps.bus.up) return reply.code(503).send({ status: 'not_ready', reason: 'the message bus is unavailable' });
    try {
      const info = await schedulerInfo(deps.nc);
      if (info.readyWorkers === 0) return reply.code(503).send({ status: 'not_ready', reason: 'no ready worker', scheduler: info.scheduler });
      return { status: 'ready', readyWorkers: info.readyWorkers, models: info.models.map((m) => m.id) };
    } catch {
      return reply.code(503).send({ status: 'not_ready', reason: 'no scheduler answers' });
    }
  });
}
