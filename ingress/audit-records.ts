// The ingress's audit records (proto/audit.ts): `request` when a request is put on the bus,
// `first_token` when its first body byte reaches the client, `end` when its answer has ended.
// Pure: everything comes from the caller.
import { createHash } from 'node:crypto';
import { AUDIT_VERSION, AUDITED_HEADERS, type AuditBodyMode, type EndRecord, type FirstTokenRecord, type RequestRecord } from '../proto/audit.ts';
import type { RouterError } from '../proto/errors.ts';
import type { RelayOutcome } from './response-relay.ts';

/** Bodies up to this are kept whole in `full` mode; a larger one is recorded by its hash only. */
export const INLINE_BODY_BYTES = 256 * 1024;

export interface AuditedRequest {
  readonly id: string;
  readonly requestId: string;
  readonly region: string;
  readonly ingress: string;
  readonly apiKey: string | null;
  readonly model: string;
  readonly route: string;
  readonly stream: boolean;
  readonly priority: number;
  readonly header: (name: string) => string | undefined;
  /** The bytes forwarded to the workers (router-owned fields already removed). */
  readonly body: Buffer;
}

export function requestRecord(r: AuditedRequest, mode: AuditBodyMode, at: number): RequestRecord {
  const headers: Record<string, string> = {};
  for (const h of AUDITED_HEADERS) {
    const v = r.header(h);
    if (v !== undefined) headers[h] = v.slice(0, 1024);
  }
  const sha = mode === 'none' ? undefined : createHash('sha256').update(r.body).digest('hex');
  const body =
    mode === 'none'
      ? { mode, bytes: r.body.length }
      : mode === 'full' && r.body.length <= INLINE_BODY_BYTES
        ? { mode, bytes: r.body.length, sha256: sha!, text: r.body.toString('utf8') }
        : { mode, bytes: r.body.length, sha256: sha! };
  return {
    v: AUDIT_VERSION,
    phase: 'request',
    id: r.id,
    requestId: r.requestId,
    at,
    region: r.region,
    ingress: r.ingress,
    apiKey: r.apiKey,
    model: r.model,
    route: r.route,
    stream: r.stream,
    priority: r.priority,
    headers,
    body,
  };
}

export function firstTokenRecord(r: Pick<AuditedRequest, 'id' | 'requestId' | 'region'>, ttftMs: number, at: number): FirstTokenRecord {
  return { v: AUDIT_VERSION, phase: 'first_token', id: r.id, requestId: r.requestId, at, region: r.region, ttftMs };
}

/** `error`: what the client was answered with instead of a worker's answer (null: the answer went out). */
export function endRecord(
  r: Pick<AuditedRequest, 'id' | 'requestId' | 'region'>,
  o: { outcome: RelayOutcome | null; error: RouterError | null; status: number; e2eMs: number; at: number },
): EndRecord {
  const code = o.error?.code ?? o.outcome?.streamError?.code ?? (o.outcome?.clientClosed ? 'LLMR_ERR_CLIENT_CLOSED' : null);
  return {
    v: AUDIT_VERSION,
    phase: 'end',
    id: r.id,
    requestId: r.requestId,
    at: o.at,
    region: r.region,
    status: o.error?.statusCode ?? o.status,
    errorCode: code,
    e2eMs: o.e2eMs,
    worker: o.outcome?.worker ?? null,
    usage: o.outcome?.usage ?? null,
  };
}
