// Writes requests' stream-protocol frames to their reply subjects (proto/stream.ts). Body bytes
// pass through as the worker wrote them, coalesced the way nats.js coalesces socket writes: a
// stream's chunks that arrive in one turn of the event loop travel as one `data` frame, and a
// buffer past 32 KiB goes at once. Writers flush at the end of the turn (runtime/end-of-turn.ts),
// so the frames of every stream published in a turn leave in one socket write (one write per
// stream per token was 40 % of the scheduler's CPU). A stream's frames keep their order.
import type { NatsConnection } from '@nats-io/transport-node';
import { toWire, type RouterError } from '../proto/errors.ts';
import { encodeJson, frameHeaders, type EndBody } from '../proto/stream.ts';
import { atEndOfTurn } from '../runtime/end-of-turn.ts';
import { natsHeaders } from '../runtime/nats.ts';

const FLUSH_BYTES = 32 * 1024;
const EMPTY = new Uint8Array(0);

interface Frame {
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

  constructor(nc: NatsConnection, subject: string) {
    this.#nc = nc;
    this.subject = subject;
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

  /** Publishes everything waiting, in order (the end of the turn calls this; so may a test). */
  flush(): void {
    this.#queued = false;
    this.#sealData();
    // The arrays are reused: a fresh one per flush would live until the stream's next token and,
    // with thousands of streams open, be promoted to the old generation as garbage.
    const frames = this.#frames;
    for (let i = 0; i < frames.length; i++) this.#publish(frames[i]!);
    frames.length = 0;
  }

  /** Pending body bytes become one data frame, numbered now so that frames stay in order. */
  #sealData(): void {
    if (this.#bytes === 0) return;
    const payload = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#bytes);
    this.#chunks.length = 0;
    this.bytesOut += this.#bytes;
    this.#bytes = 0;
    this.#frames.push({ headers: frameHeaders.data(this.#seq++), payload });
  }

  /** Numbers the frame after sealing pending data, which comes before it. */
  #control(headers: (seq: number) => Record<string, string>, payload: Uint8Array): void {
    if (this.#closed) return;
    this.#sealData();
    this.#frames.push({ headers: headers(this.#seq++), payload });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#queued) return;
    this.#queued = true;
    atEndOfTurn(this.#flushJob);
  }


  #publish(f: Frame): void {
    try {
      this.#nc.publish(this.subject, f.payload, { headers: natsHeaders(f.headers) });
    } catch {
      // Connection closed or draining: the ingress times the stream out; stop writing.
      this.#closed = true;
    }
  }
}
