// Messages of the fleet API (the ingress's /admin routes): what schedulers report about the
// fleet and themselves, and the drain command. Validated on receipt like everything on the bus.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

const Id = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });

export const DrainCommandSchema = Type.Object({ workerId: Id, drain: Type.Boolean() }, { additionalProperties: false });
export type DrainCommand = Static<typeof DrainCommandSchema>;
const checkDrain = TypeCompiler.Compile(DrainCommandSchema);

export function decodeDrain(v: unknown): DrainCommand | null {
  return checkDrain.Check(v) ? v : null;
}

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
const checkWorkers = TypeCompiler.Compile(WorkersReplySchema);

export function decodeWorkersReply(v: unknown): WorkersReply | null {
  return checkWorkers.Check(v) ? v : null;
}

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
const checkScheduler = TypeCompiler.Compile(SchedulerReportSchema);

export function decodeSchedulerReport(v: unknown): SchedulerReport | null {
  return checkScheduler.Check(v) ? v : null;
}
