// One request's stream, as the scheduler writes it (proto/stream.ts): numbers its frames, keeps
// them in order and hands them to its ingress's outbox (outbox.ts), which bundles them with the
// frames of the other streams going there. Body bytes pass through as the worker wrote them; the
// chunks of a stream that wait for the same bundle travel as one data frame, and a body larger
// than a bundle may hold (a 9 MB JSON answer) goes as several. Nothing is sent after the end.
import { toWire, type RouterError } from '../proto/errors.ts';
import { encodeHead, encodeJson, type EndBody, type Kind } from '../proto/stream.ts';
import type { Outbox, Urgency } from './outbox.ts';

const EMPTY = new Uint8Array(0);

interface Pending {
  readonly kind: Kind;
  readonly seq: number;
  readonly payload: Uint8Array;
}

export class StreamWriter {
  readonly streamId: string;
  /** @internal The outbox's mark: this writer is in its list of writers with something to send. */
  dirty = false;
  readonly #outbox: Outbox;
  #seq = 0;
  readonly #frames: Pending[] = [];
  readonly #chunks: Uint8Array[] = [];
  #bytes = 0;
  #closed = false;
  #headSent = false;
  /** Body bytes handed to the bus. */
  bytesOut = 0;

  constructor(outbox: Outbox, streamId: string) {
    this.#outbox = outbox;
    this.streamId = streamId;
  }

  get headSent(): boolean {
    return this.#headSent;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Frame 0: this scheduler took the request (the bundle's subject says which scheduler). */
  accepted(): void {
    this.#control('accepted', EMPTY, 'hold');
  }

  head(status: number, contentType: string, worker: string): void {
    if (this.#closed) return;
    this.#headSent = true;
    this.#control('head', encodeHead(status, contentType, worker), 'turn');
  }

  data(chunk: Uint8Array): void {
    if (this.#closed || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    this.#outbox.mark(this);
    this.#outbox.addBytes(chunk.length);
  }

  end(body: EndBody = {}): void {
    if (this.#closed) return;
    this.#control('end', encodeJson(body));
    this.#closed = true;
  }

  /** Before any head: the request failed as a whole. */
  error(e: RouterError): void {
    if (this.#closed) return;
    this.#control('error', encodeJson(toWire(e)));
    this.#closed = true;
  }

  /** Ends the stream with `e`, whatever went out: an error frame before the head, an end carrying it after. */
  fail(e: RouterError): void {
    if (this.#headSent) this.end({ error: toWire(e) });
    else this.error(e);
  }

  /** Publishes what waits in this writer's outbox now (tests; the outbox schedules itself). */
  flush(): void {
    this.#outbox.flush();
  }

  /** @internal The outbox takes this writer's frames, in order. */
  drainInto(outbox: Outbox): void {
    this.#sealData();
    const frames = this.#frames;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      outbox.frame(this, f.kind, f.seq, f.payload);
    }
    frames.length = 0;
  }

  /** @internal A bundle holding this stream's frames could not be published: the stream is over. */
  lost(): void {
    this.#closed = true;
    this.#chunks.length = 0;
    this.#frames.length = 0;
    this.#bytes = 0;
  }

  /** Pending body bytes become data frames, numbered now so that frames stay in order. */
  #sealData(): void {
    if (this.#bytes === 0) return;
    const payload = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#bytes);
    this.#chunks.length = 0;
    this.bytesOut += this.#bytes;
    this.#bytes = 0;
    const max = this.#outbox.maxData;
    if (payload.length <= max) {
      this.#frames.push({ kind: 'data', seq: this.#seq++, payload });
      return;
    }
    for (let at = 0; at < payload.length; at += max) this.#frames.push({ kind: 'data', seq: this.#seq++, payload: payload.subarray(at, at + max) });
  }

  /** Numbers the frame after sealing pending data, which comes before it. */
  #control(kind: Kind, payload: Uint8Array, when: Urgency = 'linger'): void {
    if (this.#closed) return;
    this.#sealData();
    this.#frames.push({ kind, seq: this.#seq++, payload });
    this.#outbox.mark(this, when);
  }
}
