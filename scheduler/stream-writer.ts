// Writes one request's stream-protocol frames to its reply subject (proto/stream.ts). Body bytes
// are passed through as the worker wrote them, coalesced the way nats.js coalesces socket writes:
// the first chunk of a burst schedules a flush for the end of this turn of the event loop, and
// a buffer past 32 KiB flushes at once. Under light load every chunk (token) goes out on its
// own; under heavy load, chunks that arrived together travel together.
import type { NatsConnection } from '@nats-io/transport-node';
import { toWire, type RouterError } from '../proto/errors.ts';
import { encodeJson, frameHeaders, type EndBody } from '../proto/stream.ts';
import { natsHeaders } from '../runtime/nats.ts';

const FLUSH_BYTES = 32 * 1024;
const EMPTY = new Uint8Array(0);

export class StreamWriter {
  readonly subject: string;
  readonly #nc: NatsConnection;
  #seq = 0;
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #scheduled = false;
  #closed = false;
  #headSent = false;
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
    this.#publish(frameHeaders.accepted(this.#seq++, schedulerId), EMPTY);
  }

  head(status: number, contentType: string, worker: string): void {
    this.#headSent = true;
    this.#publish(frameHeaders.head(this.#seq++, status, contentType, worker), EMPTY);
  }

  data(chunk: Uint8Array): void {
    if (this.#closed || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes >= FLUSH_BYTES) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#bytes === 0 || this.#closed) return;
    const payload = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#bytes);
    this.#chunks = [];
    this.bytesOut += this.#bytes;
    this.#bytes = 0;
    this.#publish(frameHeaders.data(this.#seq++), payload);
  }

  end(body: EndBody = {}): void {
    if (this.#closed) return;
    this.flush();
    this.#publish(frameHeaders.end(this.#seq++), encodeJson(body));
    this.#closed = true;
  }

  /** Before any head: the request failed as a whole. */
  error(e: RouterError): void {
    if (this.#closed) return;
    this.#publish(frameHeaders.error(this.#seq++, e.statusCode), encodeJson(toWire(e)));
    this.#closed = true;
  }

  #publish(h: Record<string, string>, payload: Uint8Array): void {
    try {
      this.#nc.publish(this.subject, payload, { headers: natsHeaders(h) });
    } catch {
      // Connection closed or draining: the ingress times the stream out; nothing to do here.
      this.#closed = true;
    }
  }
}
