// The stream protocol v2, scheduler → ingress (docs/PROTOCOL.md#the-stream-protocol). Core NATS
// has no flow control and no end of stream, so every frame carries its stream, its kind and a
// per-stream sequence number, and exactly one `end` or `error` closes a stream. A scheduler packs
// the frames of every stream it has open for one ingress into one NATS message (a bundle) per
// short window: the bus then costs a message per window instead of one per token, and no frame
// carries NATS headers. This module is the bundle's binary codec; it does no I/O.
import { fromWire, type RouterError, type WireError } from './errors.ts';

export const KIND = {
  accepted: 'accepted',
  head: 'head',
  data: 'data',
  end: 'end',
  error: 'error',
} as const;
export type Kind = (typeof KIND)[keyof typeof KIND];

/** Kind codes on the wire. */
const CODE: Readonly<Record<Kind, number>> = { accepted: 1, head: 2, data: 3, end: 4, error: 5 };

/** The first byte of every bundle: the bundle format's version. */
export const BUNDLE_VERSION = 2;
/** Bytes of a frame before its stream id (kind, id length) and after it (seq, payload length). */
const FRAME_FIXED = 1 + 1 + 4 + 4;
/** Stream ids are subject tokens: 1–128 ASCII characters (proto/id.ts). */
const MAX_ID = 128;
/** The most a frame adds to its payload on the wire. */
export const FRAME_OVERHEAD = FRAME_FIXED + MAX_ID;
const MAX_SEQ = 0xffff_ffff;

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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export { encodeJson } from './codec.ts';

/** A head's payload: status (u16), content type length (u16), content type, then the worker id (the rest). */
export function encodeHead(status: number, contentType: string, worker: string): Uint8Array {
  const ct = encoder.encode(contentType.slice(0, 1024));
  const w = encoder.encode(worker);
  const out = Buffer.allocUnsafe(4 + ct.length + w.length);
  out.writeUInt16BE(status, 0);
  out.writeUInt16BE(ct.length, 2);
  out.set(ct, 4);
  out.set(w, 4 + ct.length);
  return out;
}

/**
 * Packs frames into bundles. Frames are copied into one scratch buffer as they come, and `take`
 * returns the bundle as a buffer of its own (nats.js keeps a published buffer until its next
 * socket write, so the scratch can never be what is published).
 */
export class BundleEncoder {
  #buf: Buffer;
  #used = 1;
  #frames = 0;

  constructor(initialBytes = 16 * 1024) {
    this.#buf = Buffer.allocUnsafe(initialBytes);
    this.#buf[0] = BUNDLE_VERSION;
  }

  /** Bytes the bundle would have now. */
  get size(): number {
    return this.#used;
  }

  get frames(): number {
    return this.#frames;
  }

  /** `streamId` must be a subject id (ASCII, 1–128 characters); `payload` is copied. */
  add(streamId: string, kind: Kind, seq: number, payload: Uint8Array): void {
    if (streamId.length === 0 || streamId.length > MAX_ID) throw new RangeError(`stream id of ${streamId.length} characters`);
    if (!(seq >= 0 && seq <= MAX_SEQ)) throw new RangeError(`sequence number ${seq}`);
    const need = this.#used + FRAME_FIXED + streamId.length + payload.length;
    if (need > this.#buf.length) this.#grow(need);
    const b = this.#buf;
    let at = this.#used;
    b[at++] = CODE[kind];
    b[at++] = streamId.length;
    at += b.write(streamId, at, 'latin1');
    b.writeUInt32BE(seq, at);
    b.writeUInt32BE(payload.length, at + 4);
    at += 8;
    b.set(payload, at);
    this.#used = at + payload.length;
    this.#frames++;
  }

  /** The bundle so far, in a buffer of its own; the encoder starts a new one. */
  take(): Uint8Array {
    const out = Buffer.allocUnsafe(this.#used);
    this.#buf.copy(out, 0, 0, this.#used);
    this.#used = 1;
    this.#frames = 0;
    return out;
  }

  #grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2));
    this.#buf.copy(next, 0, 0, this.#used);
    this.#buf = next;
  }
}

/** What a bundle's receiver is told, frame by frame. */
export interface BundleVisitor {
  /** A well-formed frame of stream `streamId`. */
  frame(streamId: string, f: Frame): void;
  /** A frame of `streamId` whose payload does not decode for its kind. */
  malformed(streamId: string, seq: number, reason: string): void;
}

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

/** One frame's payload, checked for its kind; a string says why it is refused. */
function decodePayload(code: number, seq: number, p: Uint8Array, scheduler: string): Frame | string {
  switch (code) {
    case 1:
      return p.length === 0 ? { kind: 'accepted', seq, scheduler } : 'accepted with a payload';
    case 2: {
      if (p.length < 4) return 'head shorter than its fixed part';
      const status = (p[0]! << 8) | p[1]!;
      const ctLen = (p[2]! << 8) | p[3]!;
      if (status < 100 || status > 599) return `head with status ${status}`;
      if (4 + ctLen > p.length) return 'head with a content type past its end';
      const contentType = ctLen === 0 ? 'application/json' : decoder.decode(p.subarray(4, 4 + ctLen));
      return { kind: 'head', seq, status, contentType, worker: decoder.decode(p.subarray(4 + ctLen)) };
    }
    case 3:
      return { kind: 'data', seq, data: p };
    case 4: {
      const o = parseJson(p);
      if (!isObject(o)) return 'end with a body that is not a JSON object';
      return { kind: 'end', seq, ...(o.error !== undefined ? { error: fromWire(o.error) } : {}), ...(isUsage(o.usage) ? { usage: o.usage } : {}) };
    }
    case 5: {
      const o = parseJson(p);
      if (!isObject(o)) return 'error with a body that is not a JSON object';
      return { kind: 'error', seq, error: fromWire(o) };
    }
    default:
      return `unknown frame kind ${code}`;
  }
}

/**
 * Walks a bundle sent by `scheduler`, calling `v` for each frame in order. Returns null when the
 * whole bundle was read, else why the rest could not be (a wrong version, a truncated frame): the
 * frames after that point are lost, so the receiver must treat that scheduler's streams as broken.
 * Data payloads are views into `data`, not copies.
 */
export function decodeBundle(data: Uint8Array, scheduler: string, v: BundleVisitor): string | null {
  if (data.length === 0 || data[0] !== BUNDLE_VERSION) return `not a v${BUNDLE_VERSION} bundle`;
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
  let at = 1;
  while (at < buf.length) {
    if (at + 2 > buf.length) return 'truncated frame';
    const code = buf[at]!;
    const idLen = buf[at + 1]!;
    const fixedEnd = at + 2 + idLen + 8;
    if (idLen === 0 || fixedEnd > buf.length) return 'truncated frame';
    const streamId = buf.toString('latin1', at + 2, at + 2 + idLen);
    const seq = buf.readUInt32BE(fixedEnd - 8);
    const len = buf.readUInt32BE(fixedEnd - 4);
    if (fixedEnd + len > buf.length) return 'frame longer than its bundle';
    const f = decodePayload(code, seq, buf.subarray(fixedEnd, fixedEnd + len), scheduler);
    if (typeof f === 'string') v.malformed(streamId, seq, f);
    else v.frame(streamId, f);
    at = fixedEnd + len;
  }
  return null;
}
