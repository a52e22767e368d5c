// NATS subjects (docs/PROTOCOL.md#subjects). Names are versioned so that versions can share the
// bus: requests and their streams are at v2 (frames of many streams bundled per message), the
// rest at v1. A model name never goes raw into a subject: it is escaped into one token, reversibly.
import { ID_PATTERN, isSubjectId } from './id.ts';

export { isSubjectId };

const ROOT = 'llm.v1';
/** Requests and the stream protocol: v2 (bundles). A v1 process never hears a v2 request, and the reverse. */
const STREAM_ROOT = 'llm.v2';
/** The token before a scheduler's id in the subject of its bundles; stream ids never start with `_`. */
export const FRAMES_TOKEN = '_frames';

/** Characters kept as they are in a token; every other UTF-8 byte becomes `_XX` (hex), `_` included. */
const SAFE = /[A-Za-z0-9-]/;

/** Escapes any string (a model name, a client's id) into a single subject token, reversibly. */
export function escapeToken(s: string): string {
  if (s.length === 0) return '_';
  let out = '';
  for (const ch of s) {
    if (SAFE.test(ch)) {
      out += ch;
      continue;
    }
    for (const b of Buffer.from(ch, 'utf8')) out += `_${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Fatal on bad bytes; keeps a leading BOM, which is part of the name. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reverses escapeToken. Only the canonical form is accepted (the one escapeToken makes), so one
 * model has exactly one subject: raw unsafe characters, lower-case or truncated escapes, escaped
 * safe characters, the empty token and bytes that are not UTF-8 all throw.
 */
export function unescapeToken(t: string): string {
  if (t === '_') return '';
  const bytes: number[] = [];
  for (let i = 0; i < t.length; ) {
    const c = t[i]!;
    if (c === '_') {
      const hex = t.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) throw new Error(`malformed escape in subject token ${t}`);
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else if (SAFE.test(c)) {
      bytes.push(c.charCodeAt(0));
      i++;
    } else {
      throw new Error(`unescaped character ${JSON.stringify(c)} in subject token ${t}`);
    }
  }
  let out: string;
  try {
    out = strictUtf8.decode(Uint8Array.from(bytes));
  } catch {
    throw new Error(`subject token ${t} does not decode to UTF-8`);
  }
  if (escapeToken(out) !== t) throw new Error(`subject token ${t} is not in canonical form`);
  return out;
}

/** Ids we make ourselves (ingress, scheduler, region, worker, request) must already be plain tokens (proto/id.ts). */
function id(kind: string, s: string): string {
  if (!isSubjectId(s)) throw new Error(`${kind} id must match /${ID_PATTERN}/, got ${JSON.stringify(s)}`);
  return s;
}

export const subjects = {
  /** ingress → schedulers (queue group `sched`). */
  request: (model: string) => `${STREAM_ROOT}.req.${escapeToken(model)}`,
  requestAll: `${STREAM_ROOT}.req.*`,
  /**
   * A request's reply subject; the last token is its stream id. Nothing but NATS's own "no
   * responders" status and liveness probes (PROBE_TOKEN) is published on such a subject: frames
   * travel in bundles.
   */
  response: (ingressId: string, requestId: string) => `${STREAM_ROOT}.resp.${id('ingress', ingressId)}.${id('request', requestId)}`,
  /** scheduler → one ingress: the frames of every stream that scheduler has open for it (proto/stream.ts). */
  frames: (ingressId: string, schedulerId: string) => `${STREAM_ROOT}.resp.${id('ingress', ingressId)}.${FRAMES_TOKEN}.${id('scheduler', schedulerId)}`,
  /** Everything an ingress receives on the stream protocol: reply subjects, probes and bundles. */
  responseAll: (ingressId: string) => `${STREAM_ROOT}.resp.${id('ingress', ingressId)}.>`,
  /**
   * ingress → the scheduler that accepted. The ingress's id is in the subject so that the bus's
   * permissions pin it (an ingress may publish only on its own) and the scheduler cancels only
   * that ingress's streams.
   */
  cancel: (schedulerId: string, ingressId: string) => `${ROOT}.cancel.${id('scheduler', schedulerId)}.${id('ingress', ingressId)}`,
  cancelAll: (schedulerId: string) => `${ROOT}.cancel.${id('scheduler', schedulerId)}.*`,
  /**
   * agent → every scheduler. The agent's id is in the subject so that the bus's permissions pin
   * it: an agent may publish heartbeats only under its own id, and a worker id is bound to the
   * agent that announced it (docs/SECURITY.md).
   */
  heartbeat: (region: string, agentId: string, workerId: string) => `${ROOT}.hb.${id('region', region)}.${id('agent', agentId)}.${id('worker', workerId)}`,
  heartbeatAll: `${ROOT}.hb.*.*.*`,
  /** a starting scheduler → agents: heartbeat now. */
  heartbeatPing: `${ROOT}.hb.ping`,
  /** scheduler ↔ scheduler: in-flight load. */
  schedSync: `${ROOT}.sched.sync`,
  /** ingress → any scheduler (queue group): which models are served, is a worker ready. */
  schedInfo: `${ROOT}.sched.info`,
  /** ingress → every scheduler (scatter-gather): the fleet as each sees it (admin API). */
  adminWorkers: `${ROOT}.admin.workers`,
  /** ingress → every scheduler (scatter-gather): who is there (admin API). */
  adminSchedulers: `${ROOT}.admin.schedulers`,
  /** ingress → every scheduler: drain or undrain a worker (admin API). */
  adminDrain: `${ROOT}.admin.drain`,
  /** scheduler → one agent: drain or undrain one of your workers (the agent's heartbeats then say so). */
  agentDrain: (agentId: string) => `${ROOT}.agent.${id('agent', agentId)}.drain`,
  /** agent → schedulers: KV-cache events of one of its workers. */
  kvEvents: (agentId: string, workerId: string) => `${ROOT}.kv.${id('agent', agentId)}.${id('worker', workerId)}`,
  /** scheduler → JetStream stream LLM_AUDIT. */
  audit: (region: string, source: string) => `audit.v1.${id('region', region)}.${id('source', source)}`,
  auditAll: 'audit.v1.>',
} as const;

export const SCHEDULER_QUEUE = 'sched';

/**
 * Liveness probes ride on subjects both sides already use (docs/PROTOCOL.md#liveness-probes):
 * a scheduler asks `llm.v2.resp.<ingressId>._probe`, an ingress sends an empty
 * request to `llm.v1.cancel.<schedulerId>.<ingressId>`. Either answers at once; "no responders" means dead.
 * Stream ids are ulids, so `_probe` never names a stream.
 */
export const PROBE_TOKEN = '_probe';

/** Request subjects already unescaped: a fleet serves few models, and every request names one. */
const requestModels = new Map<string, string | null>();

/** The model token of a request subject, unescaped; null when the subject is not a request. */
export function modelOfRequestSubject(subject: string): string | null {
  const known = requestModels.get(subject);
  if (known !== undefined) return known;
  const prefix = `${STREAM_ROOT}.req.`;
  let model: string | null = null;
  if (subject.startsWith(prefix) && !subject.includes('.', prefix.length)) {
    try {
      model = unescapeToken(subject.slice(prefix.length));
    } catch {
      model = null;
    }
  }
  // Bounded: clients choose model names, so a flood of made-up ones must not grow it forever.
  if (requestModels.size >= 1024) requestModels.clear();
  requestModels.set(subject, model);
  return model;
}

/** The tokens of a heartbeat subject; null when the subject is not one. */
export function parseHeartbeatSubject(subject: string): { region: string; agent: string; worker: string } | null {
  const t = subject.split('.');
  if (t.length !== 6 || t[0] !== 'llm' || t[1] !== 'v1' || t[2] !== 'hb') return null;
  const [region, agent, worker] = [t[3]!, t[4]!, t[5]!];
  return isSubjectId(region) && isSubjectId(agent) && isSubjectId(worker) ? { region, agent, worker } : null;
}

/** The ingress id (last token) of a cancel subject; null when it is not a plain id. */
export function ingressOfCancelSubject(subject: string): string | null {
  const t = subject.slice(subject.lastIndexOf('.') + 1);
  return isSubjectId(t) ? t : null;
}

const RESPONSE_PREFIX = `${STREAM_ROOT}.resp.`;

/**
 * The two ids of a response subject (`llm.v2.resp.<ingressId>.<streamId>`): the ingress that
 * waits and its stream (or PROBE_TOKEN). Null when the subject is not one, or either id is not
 * a plain id.
 */
export function parseResponseSubject(subject: string): { ingressId: string; streamId: string } | null {
  const at = splitResponse(subject);
  return at !== null && at.rest !== FRAMES_TOKEN && isSubjectId(at.rest) ? { ingressId: at.ingressId, streamId: at.rest } : null;
}

/**
 * What an ingress's subscription received: a bundle of frames from a scheduler
 * (`llm.v2.resp.<ingressId>._frames.<schedulerId>`), or a message on one stream's reply subject
 * (NATS's "no responders", a probe). Null for anything else.
 */
export function parseInboundSubject(subject: string): { ingressId: string; streamId: string; scheduler: null } | { ingressId: string; streamId: null; scheduler: string } | null {
  const at = splitResponse(subject);
  if (at === null) return null;
  const { ingressId, rest } = at;
  if (rest.startsWith(FRAMES_PREFIX)) {
    const scheduler = rest.slice(FRAMES_PREFIX.length);
    return isSubjectId(scheduler) ? { ingressId, streamId: null, scheduler } : null;
  }
  return rest !== FRAMES_TOKEN && isSubjectId(rest) ? { ingressId, streamId: rest, scheduler: null } : null;
}

const FRAMES_PREFIX = `${FRAMES_TOKEN}.`;

/**
 * A response subject's ingress id (checked) and what follows it (unchecked). Every message an
 * ingress receives goes through here: indexes rather than split's array.
 */
function splitResponse(subject: string): { ingressId: string; rest: string } | null {
  if (!subject.startsWith(RESPONSE_PREFIX)) return null;
  const dot = subject.indexOf('.', RESPONSE_PREFIX.length);
  if (dot < 0) return null;
  const ingressId = subject.slice(RESPONSE_PREFIX.length, dot);
  return isSubjectId(ingressId) ? { ingressId, rest: subject.slice(dot + 1) } : null;
}
