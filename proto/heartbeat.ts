// The heartbeat an agent publishes for each worker on llm.v1.hb.<region>.<agentId>.<workerId>
// (docs/PROTOCOL.md#heartbeats). Validated on receipt: a bad one is dropped and counted, never trusted.
// Besides `ready` and `draining`, `state` may be "unhealthy" (the worker answers but fails /health),
// so that schedulers stop using it at the next beat instead of after three missed ones, and
// `agent` names the agent that speaks for the worker: it must equal the agent token of the
// subject, which the bus's permissions pin to the agent's credential (docs/SECURITY.md).
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { IdSchema as Id } from './id.ts';

export const HEARTBEAT_VERSION = 1;

export const ROLES = ['prefill', 'decode', 'both'] as const;
export type Role = (typeof ROLES)[number];
export const CONNECTORS = ['nixl', 'p2p-nccl', 'none'] as const;
export type ConnectorKind = (typeof CONNECTORS)[number];
export const WORKER_STATES = ['ready', 'draining', 'unhealthy'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

const Count = Type.Integer({ minimum: 0, maximum: 1_000_000_000 });

export const HeartbeatSchema = Type.Object(
  {
    v: Type.Literal(HEARTBEAT_VERSION),
    id: Id,
    agent: Id,
    url: Type.String({ pattern: '^https?://[^\\s/]+(/[^\\s]*)?$', maxLength: 2048 }),
    region: Id,
    models: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { minItems: 1, maxItems: 256 }),
    role: Type.Union(ROLES.map((r) => Type.Literal(r))),
    connector: Type.Object({
      kind: Type.Union(CONNECTORS.map((c) => Type.Literal(c))),
      // host:port, or [v6]:port (P2P-NCCL instances on IPv6).
      zmqAddress: Type.Optional(Type.String({ pattern: '^([^\\s:\\[\\]]+|\\[[0-9A-Fa-f:.]+\\]):\\d{1,5}$', maxLength: 300 })),
    }),
    state: Type.Union(WORKER_STATES.map((s) => Type.Literal(s))),
    load: Type.Object({
      running: Count,
      waiting: Count,
      kvUsage: Type.Number({ minimum: 0, maximum: 1 }),
    }),
    kv: Type.Object({
      blockSize: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
      numBlocks: Count,
    }),
    seq: Count,
    sentAt: Type.Number({ minimum: 0 }),
    intervalMs: Type.Integer({ minimum: 10, maximum: 600_000 }),
  },
  { additionalProperties: true },
);

export type Heartbeat = Static<typeof HeartbeatSchema>;

const check = TypeCompiler.Compile(HeartbeatSchema);
const decoder = new TextDecoder('utf-8', { fatal: true });

export type Decoded = { ok: true; value: Heartbeat } | { ok: false; reason: string };

export function validateHeartbeat(v: unknown): Decoded {
  if (check.Check(v)) return { ok: true, value: v };
  const e = check.Errors(v).First();
  return { ok: false, reason: `${e?.path || '/'}: ${e?.message ?? 'invalid'}` };
}

export function decodeHeartbeat(data: Uint8Array): Decoded {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch (e) {
    return { ok: false, reason: `not JSON: ${(e as Error).message}` };
  }
  return validateHeartbeat(v);
}

export function encodeHeartbeat(hb: Heartbeat): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(hb));
}
