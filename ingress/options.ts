// Ingress options: one defaults table, validated once, frozen (docs/ARCHITECTURE.md#options-one-defaults-table-validated-once).
import { AUDIT_MODES, type AuditMode } from '../audit/publisher.ts';
import { AUDIT_BODY_MODES, type AuditBodyMode } from '../proto/audit.ts';
import { isSubjectId } from '../proto/subjects.ts';
import { WORKER_HEADER_MODES, type WorkerHeaderMode } from './worker-header.ts';

export interface IngressOptions {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** Listen on this Unix socket instead of host:port (a sidecar, or a proxy on the same machine). */
  readonly socketPath?: string | undefined;
  readonly region: string;
  /** Largest accepted body; must stay below the bus's max_payload. null: as much as the bus allows, up to the default. */
  readonly bodyLimit: number | null;
  /** No `accepted` from a scheduler within this → 503. */
  readonly acceptTimeoutMs: number;
  /** Silence on an accepted stream longer than this → 504 / stream error. */
  readonly idleTimeoutMs: number;
  /** Whole-request deadline, passed to the scheduler. */
  readonly requestTimeoutMs: number;
  /** Bytes a slow client may leave unread before its request is cancelled. */
  readonly maxBufferedBytes: number;
  /** How long the client may take to send its request (slowloris guard). */
  readonly clientTimeoutMs: number;
  /** How often schedulers with streams from here are checked for life. */
  readonly probeIntervalMs: number;
  /** Log request bodies (at most 64 KiB each). Off by default: prompts are users' data. */
  readonly logBodies?: boolean | undefined;
  /** Bearer token for the fleet API (/admin/v1/…); null refuses every admin call. */
  readonly adminToken?: string | null | undefined;
  /** What `x-router-worker` says: a keyed hash of the worker id (`opaque`), the `id`, or nothing (`none`). */
  readonly workerHeader: WorkerHeaderMode;
  /** HMAC key of `opaque` worker headers; absent: a random key per process. */
  readonly workerHeaderKey?: string | undefined;
  /** Where GET /metrics is served (never on the public port). */
  readonly metricsHost: string;
  /** Absent: any free port (the CLI's default is 29100). */
  readonly metricsPort?: number | undefined;
  /** HTTPS: PEM certificate (chain) and private key files; both or neither. */
  readonly tlsCertFile?: string | undefined;
  readonly tlsKeyFile?: string | undefined;
  /** `/v1/*` requires `Authorization: Bearer <key>` with a key from this file; absent: open. */
  readonly apiKeysFile?: string | undefined;
  /** Requests in flight at once through this ingress (admission.ts); 0: no limit. */
  readonly maxConcurrentRequests: number;
  /** Requests that may wait for a slot; beyond: 429 at once. */
  readonly queueSize: number;
  /** Longest wait for a slot; then 429. */
  readonly queueTimeoutMs: number;
  /** Without API keys: requests and tokens per minute per client address, across every replica; null: no limit. */
  readonly anonymousRpm: number | null;
  readonly anonymousTpm: number | null;
  /** Request records into JetStream stream LLM_AUDIT (audit/publisher.ts). */
  readonly audit: AuditMode;
  /** What a request record keeps of the body: nothing, its SHA-256, or all of it. */
  readonly auditBodies: AuditBodyMode;
}

export const INGRESS_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 8000,
  region: 'default',
  bodyLimit: 6 * 1024 * 1024,
  acceptTimeoutMs: 2000,
  idleTimeoutMs: 300_000,
  requestTimeoutMs: 600_000,
  maxBufferedBytes: 1024 * 1024,
  clientTimeoutMs: 30_000,
  probeIntervalMs: 1000,
  workerHeader: 'opaque' as WorkerHeaderMode,
  metricsHost: '127.0.0.1',
  // Off unless the operator sizes it: a right number depends on the fleet behind the ingress.
  maxConcurrentRequests: 0,
  queueSize: 1000,
  // The vLLM Router's queue timeout (60 s).
  queueTimeoutMs: 60_000,
  anonymousRpm: null,
  anonymousTpm: null,
  audit: 'off' as AuditMode,
  auditBodies: 'hash' as AuditBodyMode,
} as const);

export function validateIngressOptions(o: IngressOptions): Readonly<IngressOptions> {
  const bad = (what: string): never => {
    throw new RangeError(`invalid ingress option ${what}`);
  };
  if (!isSubjectId(o.id)) bad(`id ${JSON.stringify(o.id)}: use letters, digits, _ and -`);
  if (!isSubjectId(o.region)) bad(`region ${JSON.stringify(o.region)}: use letters, digits, _ and -`);
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) bad(`port ${o.port}`);
  if (o.bodyLimit !== null && !(Number.isInteger(o.bodyLimit) && o.bodyLimit > 0)) bad(`bodyLimit ${o.bodyLimit}: must be a positive integer`);
  for (const k of ['acceptTimeoutMs', 'idleTimeoutMs', 'requestTimeoutMs', 'maxBufferedBytes', 'clientTimeoutMs', 'probeIntervalMs'] as const) {
    if (!Number.isFinite(o[k]) || o[k] <= 0) bad(`${k} ${o[k]}: must be positive`);
  }
  if (!Number.isInteger(o.maxConcurrentRequests) || o.maxConcurrentRequests < 0) bad(`maxConcurrentRequests ${o.maxConcurrentRequests}: an integer, 0 for no limit`);
  if (!Number.isInteger(o.queueSize) || o.queueSize < 0) bad(`queueSize ${o.queueSize}: an integer, 0 for no queue`);
  if (!Number.isFinite(o.queueTimeoutMs) || o.queueTimeoutMs <= 0) bad(`queueTimeoutMs ${o.queueTimeoutMs}: must be positive`);
  for (const k of ['anonymousRpm', 'anonymousTpm'] as const) {
    const v = o[k];
    if (v !== null && !(Number.isSafeInteger(v) && v >= 1)) bad(`${k} ${v}: a whole number of at least 1, or none`);
  }
  if (!AUDIT_MODES.includes(o.audit)) bad(`audit ${JSON.stringify(o.audit)}: one of ${AUDIT_MODES.join(', ')}`);
  if (!AUDIT_BODY_MODES.includes(o.auditBodies)) bad(`auditBodies ${JSON.stringify(o.auditBodies)}: one of ${AUDIT_BODY_MODES.join(', ')}`);
  if (!WORKER_HEADER_MODES.includes(o.workerHeader)) bad(`workerHeader ${JSON.stringify(o.workerHeader)}: one of ${WORKER_HEADER_MODES.join(', ')}`);
  if (o.workerHeaderKey !== undefined && o.workerHeaderKey.length === 0) bad('workerHeaderKey: empty');
  if (o.metricsPort !== undefined && (!Number.isInteger(o.metricsPort) || o.metricsPort < 0 || o.metricsPort > 65535)) bad(`metricsPort ${o.metricsPort}`);
  if ((o.tlsCertFile === undefined) !== (o.tlsKeyFile === undefined)) bad('tlsCertFile/tlsKeyFile: give both the certificate and its key, or neither');
  return Object.freeze({ ...o });
}
