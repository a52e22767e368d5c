// Whether a decoded heartbeat may be believed, before the registry sees it. A beat is a claim
// by an agent about a worker; the bus pins who sent it (the agent token of its subject, which
// nats.conf lets each agent publish only as itself), and this module checks the claim against
// that and against bounds no honest agent needs to cross: a send time in the future (which would
// make the real agent's beats look stale), an interval long enough to keep a dead worker alive
// for minutes, and a worker URL outside the networks the operator allows (`--worker-allow`).
// Pure: time and limits come in.
import type { Heartbeat } from '../proto/heartbeat.ts';
import type { AllowList } from '../runtime/address-allow.ts';

export interface HeartbeatLimits {
  /** A beat sent more than this far in the future (by our clock) is refused. */
  readonly maxClockSkewMs: number;
  /** A beat announcing a longer interval is refused (liveness would stretch to 3× this). */
  readonly maxIntervalMs: number;
  /** Null: any worker address. Else the URL's host (and a P2P-NCCL ZeroMQ address) must be inside. */
  readonly workerAllow: AllowList | null;
}

export const HEARTBEAT_LIMIT_DEFAULTS = Object.freeze({ maxClockSkewMs: 10_000, maxIntervalMs: 60_000 });

/** Why a beat was refused; also the `result` label of `llm_router_heartbeats_total`. */
export type Refusal = 'subject_mismatch' | 'future' | 'interval' | 'not_allowed';

export type Admission = { ok: true } | { ok: false; result: Refusal; reason: string };

export function admitHeartbeat(hb: Heartbeat, from: { region: string; agent: string; worker: string }, now: number, limits: HeartbeatLimits): Admission {
  if (from.region !== hb.region || from.agent !== hb.agent || from.worker !== hb.id)
    return { ok: false, result: 'subject_mismatch', reason: `subject names ${from.region}/${from.agent}/${from.worker}, payload ${hb.region}/${hb.agent}/${hb.id}` };
  if (hb.sentAt > now + limits.maxClockSkewMs) return { ok: false, result: 'future', reason: `sentAt ${hb.sentAt - now} ms in the future` };
  if (hb.intervalMs > limits.maxIntervalMs) return { ok: false, result: 'interval', reason: `intervalMs ${hb.intervalMs} above ${limits.maxIntervalMs}` };
  if (limits.workerAllow) {
    if (!limits.workerAllow.allowsAddress(hb.url)) return { ok: false, result: 'not_allowed', reason: `url ${hb.url} is outside --worker-allow` };
    const zmq = hb.connector.zmqAddress;
    if (zmq !== undefined && !limits.workerAllow.allowsAddress(zmq)) return { ok: false, result: 'not_allowed', reason: `zmqAddress ${zmq} is outside --worker-allow` };
  }
  return { ok: true };
}
