// nats-server's traffic counters from its monitoring endpoint (/varz), read at the start and the
// end of a measured window: how many messages and bytes the router's processes exchanged over
// NATS for the work done in between, whatever the stream protocol packs into one message.
import { request } from 'undici';

/** Server-wide totals since nats-server started: what clients published (in) and what it delivered (out). */
export interface NatsCounters {
  readonly inMsgs: number;
  readonly outMsgs: number;
  readonly inBytes: number;
  readonly outBytes: number;
}

/** The counters of a /varz document, or null when one is missing or not a number. */
export function countersOf(varz: unknown): NatsCounters | null {
  if (typeof varz !== 'object' || varz === null) return null;
  const v = varz as Record<string, unknown>;
  const n = (k: string): number => (typeof v[k] === 'number' && Number.isFinite(v[k]) ? (v[k] as number) : NaN);
  const c = { inMsgs: n('in_msgs'), outMsgs: n('out_msgs'), inBytes: n('in_bytes'), outBytes: n('out_bytes') };
  return Object.values(c).every(Number.isFinite) ? c : null;
}

/** What happened between two readings (null when either is missing, or the server restarted in between). */
export function countersDelta(a: NatsCounters | null, b: NatsCounters | null): NatsCounters | null {
  if (!a || !b) return null;
  const d = { inMsgs: b.inMsgs - a.inMsgs, outMsgs: b.outMsgs - a.outMsgs, inBytes: b.inBytes - a.inBytes, outBytes: b.outBytes - a.outBytes };
  return Object.values(d).some((x) => x < 0) ? null : d;
}

/** GET <monitorUrl>/varz; null when it does not answer in time (the window is then reported without NATS figures). */
export async function readVarz(monitorUrl: string, timeoutMs = 2000): Promise<NatsCounters | null> {
  try {
    const r = await request(`${monitorUrl}/varz`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    if (r.statusCode !== 200) {
      await r.body.dump();
      return null;
    }
    return countersOf(await r.body.json());
  } catch {
    return null;
  }
}
