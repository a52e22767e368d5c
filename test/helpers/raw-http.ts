// HTTP/1.1 written by hand on a TCP socket, for request targets that fetch would normalise away
// (absolute-form, `..`, `//`, percent-encoding it decodes): the bytes sent are exactly the ones
// given. One request per connection (`Connection: close`); the answer is read to the end.
import { connect } from 'node:net';

export interface RawAnswer {
  /** The status code, or null when the server closed without an HTTP answer. */
  readonly status: number | null;
  /** Everything the server sent, as latin1 text. */
  readonly raw: string;
  /** The body (after the blank line); chunked bodies are left as sent. */
  readonly body: string;
}

export interface RawRequest {
  readonly method?: string;
  /** The request target, verbatim: `/a/../b`, `http://x/admin`, `/%61dmin`. */
  readonly target: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Give up (and report what arrived) after this long. */
  readonly timeoutMs?: number;
}

/** Sends one request to `http://host:port` (from `baseUrl`) over a fresh TCP connection. */
export function rawRequest(baseUrl: string, r: RawRequest): Promise<RawAnswer> {
  const u = new URL(baseUrl);
  const body = r.body ?? '';
  const headers: Record<string, string> = { host: u.host, connection: 'close', ...(body || r.method === 'POST' ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...r.headers };
  const head = `${r.method ?? 'GET'} ${r.target} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  return new Promise((resolve) => {
    const s = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
      const at = raw.indexOf('\r\n\r\n');
      resolve({ status: m ? Number(m[1]) : null, raw, body: at < 0 ? '' : raw.slice(at + 4) });
    };
    const timer = setTimeout(done, r.timeoutMs ?? 15_000);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', done);
    s.on('close', done);
    s.on('error', done);
    s.write(head + body);
  });
}
