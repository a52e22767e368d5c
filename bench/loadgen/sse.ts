// Splits a server-sent-event byte stream into the payloads of its `data:` lines, across chunk
// boundaries (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation,
// reduced to what vLLM sends: one `data: <json>` line per event, a blank line between events,
// `data: [DONE]` last). Pure, no I/O.

export class SseDecoder {
  readonly #text = new TextDecoder('utf-8');
  #buf = '';

  /** Feeds bytes; returns the data payloads of the events they complete. */
  push(chunk: Uint8Array): string[] {
    let s = this.#buf + this.#text.decode(chunk, { stream: true });
    if (s.includes('\r')) s = s.replace(/\r\n?/g, '\n');
    const out: string[] = [];
    let start = 0;
    for (let end = s.indexOf('\n\n'); end !== -1; end = s.indexOf('\n\n', start)) {
      const event = s.slice(start, end);
      start = end + 2;
      let data: string | null = null;
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue; // comments (":"), event:, id:, retry:
        const v = line.charCodeAt(5) === 0x20 ? line.slice(6) : line.slice(5);
        data = data === null ? v : `${data}\n${v}`;
      }
      if (data !== null) out.push(data);
    }
    this.#buf = s.slice(start);
    return out;
  }

  /** Bytes after the last complete event (a stream that ends here was cut short). */
  get pending(): string {
    return this.#buf;
  }
}
