// Scheduler ↔ scheduler on llm.v1.sched.sync: each replica's own in-flight figures per worker,
// absolute (not deltas), either what changed or everything (`full`). scheduler/inflight.ts
// makes and applies them; this is their form on the bus.
import { Type, type Static } from '@sinclair/typebox';
import { jsonCodec } from './codec.ts';
import { IdSchema } from './id.ts';

/** Requests in flight to one worker from one replica. */
const Requests = Type.Integer({ minimum: 0, exclusiveMaximum: 1e9 });
/** Prompt tokens still to compute, or KV tokens held while decoding. */
const Tokens = Type.Integer({ minimum: 0, exclusiveMaximum: 1e12 });

export const SyncMessageSchema = Type.Object({
  /** Sending replica. */
  from: IdSchema,
  /** Full snapshot (true) or only the workers that changed. */
  full: Type.Boolean(),
  /** workerId → this replica's in-flight request count. */
  counts: Type.Record(Type.String(), Requests),
  /** workerId → [prefill tokens, decode tokens] of those requests (absent from older replicas: zeros). */
  tokens: Type.Optional(Type.Record(Type.String(), Type.Tuple([Tokens, Tokens]))),
  sentAt: Type.Number(),
});
export type SyncMessage = Static<typeof SyncMessageSchema>;

const codec = jsonCodec(SyncMessageSchema);
export const encodeSyncMessage = codec.encode;
export const decodeSyncMessage = codec.decode;
/** A parsed value that is a sync message, or null. */
export const checkSyncMessage = codec.check;
