// Audit records (docs/AUDIT.md): a request's story in four records, each written once by the
// process that knows it. `id` is the ingress's own ULID for the request (carried to the scheduler
// in Llm-Audit-Id): the client's X-Request-Id (`requestId`, kept too) is the client's to choose
// and need not be unique. Records travel in batches, one JetStream message carrying what a
// process wrote in the last few milliseconds, on audit.v1.<region>.<source> into the stream
// LLM_AUDIT with Nats-Msg-Id = the batch's ULID (a batch published again after a lost
// acknowledgement is stored once). The subject's source says which phases the batch may hold:
// an ingress's credential can publish only .ingress, a scheduler's only .scheduler.
//   request      ingress: who asked what (the body as --audit-bodies says)
//   decision     scheduler: the policy, each attempt (worker, leg, how it ended), the P/D decision
//   first_token  ingress: when the client got its first body byte
//   end          ingress: how the answer ended for the client (status, error code, usage, time)
// Validated when read back: the stream is shared state, and readers trust nothing in it.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

export const AUDIT_VERSION = 1;
export const AUDIT_STREAM = 'LLM_AUDIT';
export const AUDIT_PHASES = ['request', 'decision', 'first_token', 'end'] as const;
export type AuditPhase = (typeof AUDIT_PHASES)[number];
/** Who writes which records; a batch on audit.v1.<region>.<source> may hold only its source's. */
export const AUDIT_SOURCES = { ingress: ['request', 'first_token', 'end'], scheduler: ['decision'] } as const satisfies Record<string, readonly AuditPhase[]>;
export type AuditSource = keyof typeof AUDIT_SOURCES;
export const AUDIT_BODY_MODES = ['none', 'hash', 'full'] as const;
export type AuditBodyMode = (typeof AUDIT_BODY_MODES)[number];

/** Request headers worth keeping: what routes a request and what tells replays apart; never credentials. */
export const AUDITED_HEADERS = ['user-agent', 'x-session-id', 'x-user-id', 'traceparent', 'x-llm-replay-of'] as const;
/** The header a replayed request carries: the id of the request it repeats. */
export const REPLAY_OF_HEADER = 'x-llm-replay-of';

const Text = (max: number) => Type.String({ maxLength: max });
const Count = Type.Integer({ minimum: 0 });
const Ms = Type.Number({ minimum: 0 });

const Common = {
  v: Type.Literal(AUDIT_VERSION),
  /** The ingress's ULID for the request. */
  id: Type.String({ pattern: '^[0-9A-Z]{26}$' }),
  /** The X-Request-Id the client saw. */
  requestId: Text(256),
  /** Epoch ms when the record's event happened. */
  at: Ms,
  region: Text(128),
};

const BodySchema = Type.Object({
  mode: Type.Union(AUDIT_BODY_MODES.map((m) => Type.Literal(m))),
  bytes: Count,
  /** hash and full: SHA-256 of the bytes, hex. */
  sha256: Type.Optional(Text(64)),
  /** full: the body itself (UTF-8 JSON as the client sent it), when it fits the record. */
  text: Type.Optional(Type.String()),
  /** full, bodies larger than --audit-inline-bytes: the object store entry holding them. */
  object: Type.Optional(Type.Object({ bucket: Text(64), name: Text(300) })),
});

export const RequestRecordSchema = Type.Object({
  ...Common,
  phase: Type.Literal('request'),
  ingress: Text(128),
  apiKey: Type.Union([Text(64), Type.Null()]),
  model: Text(512),
  route: Text(64),
  stream: Type.Boolean(),
  priority: Type.Integer(),
  headers: Type.Record(Type.String(), Text(1024)),
  body: BodySchema,
});

const AttemptSchema = Type.Object({
  n: Type.Integer({ minimum: 1 }),
  leg: Text(16),
  worker: Text(256),
  /** The worker's status, or null when the call failed before one. */
  status: Type.Union([Type.Integer(), Type.Null()]),
  ms: Ms,
});

export const DecisionRecordSchema = Type.Object({
  ...Common,
  phase: Type.Literal('decision'),
  scheduler: Text(128),
  model: Text(512),
  policy: Text(64),
  /** Candidates the policy had for the first pick, and the one chosen with its load then. */
  candidates: Count,
  picks: Type.Array(Type.Object({ pool: Text(16), worker: Text(256) }), { maxItems: 64 }),
  attempts: Type.Array(AttemptSchema, { maxItems: 64 }),
  retries: Type.Array(Type.Object({ reason: Text(128) }), { maxItems: 64 }),
  /** P/D fleets: disaggregate or not. */
  pd: Type.Union([Text(32), Type.Null()]),
  /** How long the request was held while the fleet was saturated (0 when it was not). */
  heldMs: Ms,
  outcome: Text(64),
  worker: Type.Union([Text(256), Type.Null()]),
});

export const FirstTokenRecordSchema = Type.Object({
  ...Common,
  phase: Type.Literal('first_token'),
  ttftMs: Ms,
});

export const EndRecordSchema = Type.Object({
  ...Common,
  phase: Type.Literal('end'),
  status: Type.Integer(),
  errorCode: Type.Union([Text(64), Type.Null()]),
  e2eMs: Ms,
  worker: Type.Union([Text(256), Type.Null()]),
  usage: Type.Union([Type.Object({ promptTokens: Count, completionTokens: Count, cachedTokens: Type.Optional(Count) }), Type.Null()]),
});

export const AuditRecordSchema = Type.Union([RequestRecordSchema, DecisionRecordSchema, FirstTokenRecordSchema, EndRecordSchema]);
export type RequestRecord = Static<typeof RequestRecordSchema>;
export type DecisionRecord = Static<typeof DecisionRecordSchema>;
export type FirstTokenRecord = Static<typeof FirstTokenRecordSchema>;
export type EndRecord = Static<typeof EndRecordSchema>;
export type AuditRecord = Static<typeof AuditRecordSchema>;

const check = TypeCompiler.Compile(AuditRecordSchema);
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A batch as it travels: `{"v":1,"batch":<ULID>,"records":[…]}`. */
export function encodeAuditBatch(batch: string, records: readonly AuditRecord[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: AUDIT_VERSION, batch, records }));
}

export type DecodedRecord = { ok: true; value: AuditRecord } | { ok: false; reason: string };

/**
 * The records of a batch that arrived on a `source` subject, each validated on its own (one bad
 * record does not hide the others); a record of a phase its source does not write is refused.
 */
export function decodeAuditBatch(data: Uint8Array, source: string): DecodedRecord[] {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch (e) {
    return [{ ok: false, reason: `not JSON: ${(e as Error).message}` }];
  }
  const b = v as { v?: unknown; records?: unknown };
  if (typeof v !== 'object' || v === null || b.v !== AUDIT_VERSION || !Array.isArray(b.records)) return [{ ok: false, reason: `not a v${AUDIT_VERSION} audit batch` }];
  const allowed: readonly string[] = (AUDIT_SOURCES as Record<string, readonly string[]>)[source] ?? [];
  return b.records.map((r: unknown): DecodedRecord => {
    if (!check.Check(r)) {
      const e = check.Errors(r).First();
      return { ok: false, reason: `${e?.path || '/'}: ${e?.message ?? 'invalid'}` };
    }
    if (!allowed.includes(r.phase)) return { ok: false, reason: `a ${r.phase} record from ${source}, which does not write them` };
    return { ok: true, value: r };
  });
}

export function isAuditId(v: unknown): v is string {
  return typeof v === 'string' && /^[0-9A-Z]{26}$/.test(v);
}
