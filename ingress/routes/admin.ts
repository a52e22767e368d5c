// The fleet API, behind an admin token: the workers as every scheduler replica sees them (role,
// region, load, health, breaker state, in flight), draining and undraining a worker (schedulers
// stop sending it new work and tell its agent, whose heartbeats then say `draining`), and the
// scheduler replicas. Answers are gathered from every replica over NATS (scatter-gather), on the
// connection given (the ingress's admin connection when it has one).
//
// A fastify plugin, registered encapsulated under a prefix: its token check is a hook of these
// routes themselves, so it runs for every request the router hands them, however the client
// spelled the URL (`/%61dmin/…`, `http://x/admin/…`). Never guard routes by testing the URL.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { decodeDrainAck, decodeSchedulerReport, decodeWorkersReply, encodeDrain, type SchedulerReport, type WorkerReport } from '../../proto/admin.ts';
import { errors } from '../../proto/errors.ts';
import { isSubjectId, subjects } from '../../proto/subjects.ts';

export interface AdminDeps {
  readonly nc: NatsConnection;
  /** Null: the fleet API refuses every call. */
  readonly token: string | null;
  /** How long to wait for replicas to answer. */
  readonly gatherMs: number;
}

/** Digests of equal length, compared in constant time: neither the token nor its length shows in timing. */
function authorized(request: FastifyRequest, token: string | null): boolean {
  if (!token) return false;
  const h = request.headers.authorization ?? '';
  if (!h.startsWith('Bearer ')) return false;
  const digest = (v: string) => createHash('sha256').update(v, 'utf8').digest();
  return timingSafeEqual(digest(h.slice(7)), digest(token));
}

async function gather<T>(nc: NatsConnection, subject: string, payload: Uint8Array | undefined, ms: number, decode: (v: unknown) => T | null): Promise<T[]> {
  const out: T[] = [];
  let replies: AsyncIterable<Msg>;
  try {
    replies = await nc.requestMany(subject, payload, { strategy: 'timer', maxWait: ms });
  } catch {
    return out;
  }
  try {
    for await (const m of replies) {
      let v: unknown;
      try {
        v = m.json();
      } catch {
        continue;
      }
      const d = decode(v);
      if (d) out.push(d);
    }
  } catch {
    // no responders, or the bus dropped: what was gathered stands
  }
  return out;
}

export interface WorkerView extends Omit<WorkerReport, 'breaker' | 'inflight'> {
  /** scheduler → breaker state */
  readonly breaker: Record<string, string>;
  /** Requests in flight to it from all replicas (the largest view reported). */
  readonly inflight: number;
}

export function mergeWorkers(replies: readonly { scheduler: string; workers: readonly WorkerReport[] }[]): WorkerView[] {
  const byId = new Map<string, WorkerView & { breaker: Record<string, string> }>();
  for (const r of replies) {
    for (const w of r.workers) {
      const prev = byId.get(w.id);
      if (!prev) {
        const { breaker, inflight, ...rest } = w;
        byId.set(w.id, { ...rest, breaker: { [r.scheduler]: breaker }, inflight: inflight.all });
        continue;
      }
      prev.breaker[r.scheduler] = w.breaker;
      // Freshest heartbeat wins for the rest of the view.
      const merged =
        w.lastSeenMsAgo < prev.lastSeenMsAgo
          ? { ...prev, ...w, breaker: prev.breaker, inflight: Math.max(prev.inflight, w.inflight.all) }
          : { ...prev, inflight: Math.max(prev.inflight, w.inflight.all) };
      merged.adminDrained = prev.adminDrained || w.adminDrained;
      byId.set(w.id, merged);
    }
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Register with `{ prefix: '/admin', ...deps }`, never through fastify-plugin (that would lift the hook out of its scope). */
export const adminPlugin: FastifyPluginAsync<AdminDeps> = async (app: FastifyInstance, d: AdminDeps) => {
  app.addHook('onRequest', async (request) => {
    if (!authorized(request, d.token)) throw errors.LLMR_ERR_UNAUTHORIZED();
  });

  app.get('/v1/workers', async () => {
    const replies = await gather(d.nc, subjects.adminWorkers, undefined, d.gatherMs, decodeWorkersReply);
    if (replies.length === 0) throw errors.LLMR_ERR_NO_SCHEDULER();
    return { object: 'list', schedulers: replies.map((r) => r.scheduler).sort(), data: mergeWorkers(replies) };
  });

  app.get('/v1/schedulers', async () => {
    const replies: SchedulerReport[] = await gather(d.nc, subjects.adminSchedulers, undefined, d.gatherMs, decodeSchedulerReport);
    if (replies.length === 0) throw errors.LLMR_ERR_NO_SCHEDULER();
    return { object: 'list', data: replies.sort((a, b) => (a.id < b.id ? -1 : 1)) };
  });

  const drain = (value: boolean) => async (request: FastifyRequest<{ Params: { id: string } }>, reply: { code(n: number): unknown }) => {
    const workerId = request.params.id;
    if (!isSubjectId(workerId)) throw errors.LLMR_ERR_WORKER_NOT_FOUND(workerId);
    const acks = await gather(d.nc, subjects.adminDrain, encodeDrain({ workerId, drain: value }), d.gatherMs, (v) => {
      const ack = decodeDrainAck(v);
      return ack?.ok ? ack : null;
    });
    if (acks.length === 0) throw errors.LLMR_ERR_NO_SCHEDULER();
    if (!acks.some((a) => a.known)) throw errors.LLMR_ERR_WORKER_NOT_FOUND(workerId);
    reply.code(202);
    return { worker: workerId, draining: value, acknowledgedBy: acks.map((a) => a.scheduler).sort() };
  };
  app.post('/v1/workers/:id/drain', drain(true));
  app.post('/v1/workers/:id/undrain', drain(false));
};
