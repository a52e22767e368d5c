// What travels with a request on llm.v2.req.<model>, besides the client's body bytes (which are
// passed untouched): the request's metadata, as NATS headers. Encoded by the ingress, decoded
// and validated by the scheduler.
import { H, type HeaderGetter } from './headers.ts';
import { isAuditId } from './audit.ts';
import { isSubjectId } from './id.ts';

export const ROUTES = { chat: '/v1/chat/completions', completions: '/v1/completions' } as const;
export type Route = keyof typeof ROUTES;

export interface RequestMeta {
  /** The id the client sees (X-Request-Id); sent to workers as X-Request-Id. */
  readonly requestId: string;
  readonly route: Route;
  readonly stream: boolean;
  readonly routingKey: string | null;
  /** Epoch ms; null = none. */
  readonly deadline: number | null;
  readonly region: string | null;
  readonly traceparent: string | null;
  /** vLLM's `priority`, as the ingress serves it (lower is more urgent; the key's grant applied). Default 0. */
  readonly priority: number;
  /** The request's audit id (proto/audit.ts) when the ingress audits; null: no decision record. */
  readonly auditId: string | null;
}

/** Priorities the router orders by (vLLM takes any integer; queues need a bounded range). */
export const PRIORITY_RANGE = Object.freeze({ min: -1_000_000, max: 1_000_000 });

export function isPriority(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= PRIORITY_RANGE.min && v <= PRIORITY_RANGE.max;
}

/** Printable ASCII, no spaces: what an X-Request-Id may hold. */
export const REQUEST_ID = /^[\x21-\x7e]{1,256}$/;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function encodeRequestMeta(m: RequestMeta): Record<string, string> {
  const h: Record<string, string> = {
    [H.requestId]: m.requestId,
    [H.route]: m.route,
    [H.stream]: m.stream ? 'true' : 'false',
  };
  if (m.routingKey !== null) h[H.routingKey] = m.routingKey;
  if (m.deadline !== null) h[H.deadline] = String(m.deadline);
  if (m.region !== null) h[H.region] = m.region;
  if (m.traceparent !== null) h[H.traceparent] = m.traceparent;
  if (m.priority !== 0) h[H.priority] = String(m.priority);
  if (m.auditId !== null) h[H.auditId] = m.auditId;
  return h;
}

export function decodeRequestMeta(get: HeaderGetter): { ok: true; value: RequestMeta } | { ok: false; reason: string } {
  const requestId = get(H.requestId);
  if (!requestId || !REQUEST_ID.test(requestId)) return { ok: false, reason: `missing or malformed ${H.requestId}` };
  const route = get(H.route);
  if (route !== 'chat' && route !== 'completions') return { ok: false, reason: `unknown ${H.route} ${JSON.stringify(route)}` };
  const stream = get(H.stream);
  if (stream !== 'true' && stream !== 'false') return { ok: false, reason: `${H.stream} must be true or false` };
  const routingKey = get(H.routingKey) ?? null;
  if (routingKey !== null && (routingKey.length === 0 || routingKey.length > 1024)) return { ok: false, reason: `${H.routingKey} must be 1 to 1024 characters` };
  const deadlineText = get(H.deadline);
  const deadline = deadlineText === undefined ? null : Number(deadlineText);
  if (deadline !== null && !(Number.isSafeInteger(deadline) && deadline > 0)) return { ok: false, reason: `malformed ${H.deadline}` };
  const region = get(H.region) ?? null;
  if (region !== null && !isSubjectId(region)) return { ok: false, reason: `malformed ${H.region}` };
  const tp = get(H.traceparent) ?? null;
  const priorityText = get(H.priority);
  const priority = priorityText === undefined ? 0 : Number(priorityText);
  if (!isPriority(priority) || (priorityText !== undefined && !/^-?\d+$/.test(priorityText))) return { ok: false, reason: `malformed ${H.priority}` };
  const auditId = get(H.auditId) ?? null;
  if (auditId !== null && !isAuditId(auditId)) return { ok: false, reason: `malformed ${H.auditId}` };
  return {
    ok: true,
    value: { requestId, route, stream: stream === 'true', routingKey, deadline, region, traceparent: tp !== null && TRACEPARENT.test(tp) ? tp : null, priority, auditId },
  };
}
