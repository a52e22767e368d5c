// A request's story from its audit records, for people: one line per record, in the order the
// events happened, with the times relative to the request's arrival. Pure.
import type { AuditRecord } from '../proto/audit.ts';

const PHASE_ORDER = { request: 0, decision: 1, first_token: 2, end: 3 } as const;

/** The records of one request, in the order of their events. */
export function ordered(records: readonly AuditRecord[]): AuditRecord[] {
  return [...records].sort((a, b) => a.at - b.at || PHASE_ORDER[a.phase] - PHASE_ORDER[b.phase]);
}

function line(r: AuditRecord, t0: number): string {
  const at = `+${(r.at - t0).toFixed(0).padStart(6)} ms`;
  switch (r.phase) {
    case 'request': {
      const body = r.body.mode === 'none' ? `${r.body.bytes} B (not kept)` : r.body.text !== undefined ? `${r.body.bytes} B kept` : `${r.body.bytes} B, sha256 ${r.body.sha256?.slice(0, 16)}…`;
      const key = r.apiKey ? ` key ${r.apiKey}` : '';
      return `${at}  request      ${r.route} model ${r.model}${r.stream ? ' stream' : ''}${key} priority ${r.priority} via ${r.ingress}; body ${body}`;
    }
    case 'decision': {
      const tries = r.attempts.map((a) => `${a.leg} ${a.worker} → ${a.status ?? 'failed'} (${a.ms.toFixed(0)} ms)`).join('; ');
      const retries = r.retries.length > 0 ? `; retries: ${r.retries.map((x) => x.reason).join(', ')}` : '';
      const held = r.heldMs > 0 ? `; held ${r.heldMs.toFixed(0)} ms (fleet saturated)` : '';
      return `${at}  decision     ${r.scheduler} ${r.policy} over ${r.candidates} candidates${r.pd ? `, P/D ${r.pd}` : ''}: ${tries || 'no call'}${retries}${held}; ${r.outcome}`;
    }
    case 'first_token':
      return `${at}  first_token  TTFT ${r.ttftMs.toFixed(1)} ms`;
    case 'end': {
      const usage = r.usage ? `, ${r.usage.promptTokens} prompt + ${r.usage.completionTokens} completion tokens${r.usage.cachedTokens ? ` (${r.usage.cachedTokens} cached)` : ''}` : '';
      return `${at}  end          ${r.status}${r.errorCode ? ` ${r.errorCode}` : ''} after ${r.e2eMs.toFixed(0)} ms${r.worker ? ` from ${r.worker}` : ''}${usage}`;
    }
  }
}

export function story(records: readonly AuditRecord[]): string {
  const rs = ordered(records);
  if (rs.length === 0) return '';
  const first = rs[0]!;
  const t0 = rs.find((r) => r.phase === 'request')?.at ?? first.at;
  const missing = (['request', 'decision', 'first_token', 'end'] as const).filter((p) => !rs.some((r) => r.phase === p));
  return [
    `request ${first.requestId} (audit id ${first.id}), ${new Date(t0).toISOString()}, region ${first.region}`,
    ...rs.map((r) => line(r, t0)),
    ...(missing.length > 0 ? [`(no ${missing.join(', ')} record)`] : []),
  ].join('\n');
}
