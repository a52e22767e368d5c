// Writes requests' stream-protocol frames to their reply subjects (proto/stream.ts). Body bytes
// pass through as the worker wrote them, coalesced the way nats.js coalesces socket writes: a
// stream's chunks that arrive in one turn of the event loop travel as one `data` frame, and a
// buffer past 32 KiB goes at once. Writers flush at the end of the turn (runtime/end-of-turn.ts),
// so the frames of every stream published in a turn leave in one socket write (one write per
// stream per token was 40 % of the scheduler's CPU). A stream's frames keep their order.
// No frame is larger than the bus allows (a 9 MB JSON answer goes as several data frames), and
// a publish that fails ends the stream with a coded error at that frame's sequence number: the
// ingress sees a clear failure, never a gap.
import type { NatsConnection } from '@nats-io/transport-node';
import { errors, toWire, type RouterError } from '../proto/errors.ts';
import { encodeJson, frameHeaders, type EndBody } from '../proto/stream.ts';
import { atEndOfTurn } from '../runtime/end-of-turn.ts';
import { natsHeaders } from '../runtime/nats.ts';

const FLUSH_BYTES = 32 * 1024;
const EMPTY = new Uint8Array(0);
/** Room in a message for our headers (a data frame's are under 100 bytes). */
const HEADER_ROOM = 1024;

interface Frame {
  readonly seq: number;
  readonly headers: Record<string, string>;
  readonly payload: Uint8Array;
}

export class StreamWriter {
  readonly subject: string;
  readonly #nc: NatsConnection;
  #seq = 0;
  readonly #frames: Frame[] = [];
  readonly #chunks: Uint8Array[] = [];
  #bytes = 0;
  #queued = false;
  #closed = false;
  #headSent = false;
  readonly #flushJob = (): void => this.flush();
  /** Body bytes published (after coalescing). */
  bytesOut = 0;

  /** The largest data frame's payload: the bus's max_payload less room for headers. */
  readonly #maxFrame: number;

  constructor(nc: NatsConnection, subject: string) {
    this.#nc = nc;
    this.subject = subject;
    this.#maxFrame = Math.max(4096, (nc.info?.max_payload ?? 1024 * 1024) - HEADER_ROOM);
  }

  get headSent(): boolean {
    return this.#headSent;
  }

  get closed(): boolean {
    return this.#closed;
  }

  accepted(schedulerId: string): void {
    this.#control((seq) => frameHeaders.accepted(seq, schedulerId), EMPTY);
  }

  head(status: number, contentType: string, worker: string): void {
    this.#headSent = true;
    this.#control((seq) => frameHeaders.head(seq, status, contentType, worker), EMPTY);
  }

  data(chunk: Uint8Array): void {
    if (this.#closed || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes >= FLUSH_BYTES) this.#sealData();
    this.#schedule();
  }

  end(body: EndBody = {}): void {
    if (this.#closed) return;
    this.#control(frameHeaders.end, encodeJson(body));
    this.#closed = true;
  }

  /** Before any head: the request failed as a whole. */
  error(e: RouterError): void {
    if (this.#closed) return;
    this.#control((seq) => frameHeaders.error(seq, e.statusCode), encodeJson(toWire(e)));
    this.#closed = true;
  }

  /** Ends the stream with `e`, whatever went out: an error frame before the head, an end carrying it after. */
  fail(e: RouterError): void {
    if (this.#closed) return;
    const f = this.#failure(e);
    this.#control(f.headers, f.payload);
    this.#closed = true;
  }

  /** The frame that ends the stream with `e` at sequence number `seq`. */
  #failure(e: RouterError): { headers: (seq: number) => Record<string, string>; payload: Uint8Array } {
    return this.#headSent ? { headers: frameHeaders.end, payload: encodeJson({ error: toWire(e) }) } : { headers: (seq) => frameHeaders.error(seq, e.statusCode), payload: encodeJson(toWire(e)) };
  }

  /** Publishes everything waiting, in order (the end of the turn calls this; so may a test). */
  flush(): void {
    this.#queued = false;
    this.#sealData();
    // The arrays are reused: a fresh one per flush would live until the stream's next token and,
    // with thousands of streams open, be promoted to the old generation as garbage.
    const frames = this.#frames;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      const failure = this.#publish(f);
      if (failure === null) continue;
      // What follows this frame cannot go out in order: end the stream here, at this sequence
      // number, so that the ingress answers with an error instead of waiting or seeing a gap.
      this.#closed = true;
      const end = this.#failure(errors.LLMR_ERR_STREAM_BROKEN(`a frame could not be published: ${failure}`));
      this.#publish({ seq: f.seq, headers: end.headers(f.seq), payload: end.payload });
      break;
    }
    frames.length = 0;
  }

  /** Pending body bytes become one data frame, numbered now so that frames stay in order. */
  #sealData(): void {
    if (this.#bytes === 0) return;
    const payload = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#bytes);
    this.#chunks.length = 0;
    this.bytesOut += this.#bytes;
    this.#bytes = 0;
    for (let at = 0; at < payload.length; at += this.#maxFrame) {
      const seq = this.#seq++;
      this.#frames.push({ seq, headers: frameHeaders.data(seq), payload: at === 0 && payload.length <= this.#maxFrame ? payload : payload.subarray(at, at + this.#maxFrame) });
    }
  }

  /** Numbers the frame after sealing pending data, which comes before it. */
  #control(headers: (seq: number) => Record<string, string>, payload: Uint8Array): void {
    if (this.#closed) return;
    this.#sealData();
    const seq = this.#seq++;
    this.#frames.push({ seq, headers: headers(seq), payload });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#queued) return;
    this.#queued = true;
    atEndOfTurn(this.#flushJob);
  }

  /** Null when published, else why not (a closed connection: the ingress's probes notice). */
  #publish(f: Frame): string | null {
    try {
      this.#nc.publish(this.subject, f.payload, { headers: natsHeaders(f.headers) });
      return null;
    } catch (e) {
      return (e as Error).message ?? String(e);
    }
  }
}
