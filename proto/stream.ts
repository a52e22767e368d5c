// The stream protocol on a request's reply subject, scheduler → ingress (docs/PROTOCOL.md#the-stream-protocol).
// Core NATS has no flow control and no end of stream, so every message carries its
// kind and a per-request sequence number, and exactly one `end` or `error` closes the stream.
import { fromWire, type RouterError, type WireError } from './errors.ts';
import { H, type HeaderGetter } from './headers.ts';
import { isSubjectId } from './id.ts';

export const KIND = {
  accepted: 'accepted',
  head: 'head',
  data: 'data',
  end: 'end',
  error: 'error',
} as const;
export type Kind = (typeof KIND)[keyof typeof KIND];

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedTokens?: number;
}

/** The body of an `end` frame on the wire. */
export interface EndBody {
  /** Set when the stream ended abnormally after its head (the worker died mid-stream, …). */
  readonly error?: WireError;
  readonly usage?: Usage;
}

export type Frame =
  | { readonly kind: 'accepted'; readonly seq: number; readonly scheduler: string }
  | { readonly kind: 'head'; readonly seq: number; readonly status: number; readonly contentType: string; readonly worker: string }
  | { readonly kind: 'data'; readonly seq: number; readonly data: Uint8Array }
  | { readonly kind: 'end'; readonly seq: number; readonly error?: RouterError; readonly usage?: Usage }
  | { readonly kind: 'error'; readonly seq: number; readonly error: RouterError };

/** Header records of each frame kind (payloads travel as the message body). */
export const frameHeaders = {
  accepted: (seq: number, scheduler: string): Record<string, string> => ({ [H.kind]: KIND.accepted, [H.seq]: String(seq), [H.scheduler]: scheduler }),
  head: (seq: number, status: number, contentType: string, worker: string): Record<string, string> => ({
    [H.kind]: KIND.head,
    [H.seq]: String(seq),
    [H.status]: String(status),
    [H.contentType]: contentType,
    [H.worker]: worker,
  }),
  data: (seq: number): Record<string, string> => ({ [H.kind]: KIND.data, [H.seq]: String(seq) }),
  end: (seq: number): Record<string, string> => ({ [H.kind]: KIND.end, [H.seq]: String(seq) }),
  error: (seq: number, status: number): Record<string, string> => ({ [H.kind]: KIND.error, [H.seq]: String(seq), [H.status]: String(status) }),
};

const decoder = new TextDecoder();

function parseJson(data: Uint8Array): unknown {
  if (data.length === 0) return {};
  try {
    return JSON.parse(decoder.decode(data)) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isUsage(u: unknown): u is Usage {
  if (typeof u !== 'object' || u === null) return false;
  const o = u as Record<string, unknown>;
  return Number.isInteger(o.promptTokens) && Number.isInteger(o.completionTokens) && (o.cachedTokens === undefined || Number.isInteger(o.cachedTokens));
}

/** Validates a received frame. Anything malformed is an error result, never trusted. */
export function decodeFrame(get: HeaderGetter, data: Uint8Array): { ok: true; frame: Frame } | { ok: false; reason: string } {
  const kind = get(H.kind);
  const seqText = get(H.seq);
  const seq = seqText !== undefined && /^\d{1,15}$/.test(seqText) ? Number(seqText) : -1;
  if (seq < 0) return { ok: false, reason: `bad or missing ${H.seq}` };
  switch (kind) {
    case KIND.accepted: {
      const scheduler = get(H.scheduler);
      if (!scheduler || !isSubjectId(scheduler)) return { ok: false, reason: `accepted without a valid ${H.scheduler}` };
      return { ok: true, frame: { kind, seq, scheduler } };
    }
    case KIND.head: {
      const status = Number(get(H.status));
      if (!Number.isInteger(status) || status < 100 || status > 599) return { ok: false, reason: `head with bad ${H.status}` };
      return { ok: true, frame: { kind, seq, status, contentType: get(H.contentType) ?? 'application/json', worker: get(H.worker) ?? '' } };
    }
    case KIND.data:
      return { ok: true, frame: { kind, seq, data } };
    case KIND.end: {
      const o = parseJson(data);
      if (!isObject(o)) return { ok: false, reason: 'end with a body that is not a JSON object' };
      return {
        ok: true,
        frame: { kind, seq, ...(o.error !== undefined ? { error: fromWire(o.error) } : {}), ...(isUsage(o.usage) ? { usage: o.usage } : {}) },
      };
    }
    case KIND.error: {
      const j = parseJson(data);
      if (!isObject(j)) return { ok: false, reason: 'error with a body that is not a JSON object' };
      return { ok: true, frame: { kind, seq, error: fromWire(j) } };
    }
    default:
      return { ok: false, reason: `unknown ${H.kind} ${JSON.stringify(kind)}` };
  }
}

export { encodeJson } from './codec.ts';
