// What a scheduler answers on llm.v1.sched.info (the ingress asks one replica, through the queue
// group): the models the fleet serves and how many workers each has, for GET /v1/models and
// /readiness.
import { Type, type Static } from '@sinclair/typebox';
import { jsonCodec } from './codec.ts';
import { IdSchema } from './id.ts';

const Count = Type.Integer({ minimum: 0 });

export const SchedulerInfoSchema = Type.Object({
  /** The replica that answered. */
  scheduler: IdSchema,
  /** Each model with the number of known workers serving it. */
  models: Type.Array(Type.Object({ id: Type.String(), workers: Count })),
  readyWorkers: Count,
  workers: Count,
  /** Other replicas this one hears on llm.v1.sched.sync. */
  peers: Type.Array(IdSchema),
});
export type SchedulerInfo = Static<typeof SchedulerInfoSchema>;

const codec = jsonCodec(SchedulerInfoSchema);
export const encodeSchedulerInfo = codec.encode;
export const decodeSchedulerInfo = codec.decode;
