// Messages of the fleet API (the ingress's /admin routes): what schedulers report about the
// fleet and themselves, the drain command (ingress → schedulers → the worker's agent) and each
// scheduler's acknowledgement of it. Validated on receipt like everything on the bus; the
// `decode…` functions here take the parsed JSON.
import { Type, type Static } from '@sinclair/typebox';
import { jsonCodec } from './codec.ts';
import { IdSchema as Id } from './id.ts';

export const DrainCommandSchema = Type.Object({ workerId: Id, drain: Type.Boolean() }, { additionalProperties: false });
export type DrainCommand = Static<typeof DrainCommandSchema>;
const drainCodec = jsonCodec(DrainCommandSchema);

/** Always `{"workerId":…,"drain":…}`, in that order, whatever object it is given. */
export function encodeDrain(c: DrainCommand): Uint8Array {
  return drainCodec.encode({ workerId: c.workerId, drain: c.drain });
}
export const decodeDrain = drainCodec.check;

/**
 * A scheduler's answer to a drain command: `known` says whether it knows the worker (an unknown
 * worker may still be undrained, so that an operator can clear a drain the fleet forgot).
 */
export const DrainAckSchema = Type.Union([
  Type.Object({ scheduler: Id, ok: Type.Literal(true), known: Type.Boolean() }),
  Type.Object({ scheduler: Id, ok: Type.Literal(false), error: Type.String() }),
]);
export type DrainAck = Static<typeof DrainAckSchema>;
const drainAckCodec = jsonCodec(DrainAckSchema);
export const encodeDrainAck = drainAckCodec.encode;
export const decodeDrainAck = drainAckCodec.check;

export const WorkerReportSchema = Type.Object({
  id: Id,
  url: Type.String(),
  region: Type.String(),
  models: Type.Array(Type.String()),
  role: Type.String(),
  /** ready, draining (the agent says so, or an admin asked), unhealthy. */
  state: Type.String(),
  adminDrained: Type.Boolean(),
  load: Type.Object({ running: Type.Number(), waiting: Type.Number(), kvUsage: Type.Number() }),
  breaker: Type.String(),
  inflight: Type.Object({ local: Type.Number(), all: Type.Number() }),
  lastSeenMsAgo: Type.Number(),
});
export type WorkerReport = Static<typeof WorkerReportSchema>;

export const WorkersReplySchema = Type.Object({ scheduler: Id, workers: Type.Array(WorkerReportSchema) });
export type WorkersReply = Static<typeof WorkersReplySchema>;
const workersCodec = jsonCodec(WorkersReplySchema);
export const encodeWorkersReply = workersCodec.encode;
export const decodeWorkersReply = workersCodec.check;

export const SchedulerReportSchema = Type.Object({
  id: Id,
  region: Type.String(),
  activeRequests: Type.Number(),
  workers: Type.Number(),
  peers: Type.Array(Type.String()),
  uptimeS: Type.Number(),
  policy: Type.String(),
});
export type SchedulerReport = Static<typeof SchedulerReportSchema>;
const schedulerCodec = jsonCodec(SchedulerReportSchema);
export const encodeSchedulerReport = schedulerCodec.encode;
export const decodeSchedulerReport = schedulerCodec.check;
