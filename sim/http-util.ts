// Small helpers for the simulator's node:http servers (kept off fastify so that one process can
// serve many workers and hundreds of streams on one core).
import type { IncomingMessage, ServerResponse } from 'node:http';

export class BodyTooLarge extends Error {}

/** Reads the whole request body, refusing more than `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new BodyTooLarge(`body exceeds ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': 0 });
  res.end();
}

/** Parses JSON, mapping syntax errors to a message like FastAPI's. */
export function parseJson(buf: Buffer): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(buf.toString('utf8')) as unknown };
  } catch (e) {
    return { ok: false, message: `JSON decode error: ${(e as Error).message}` };
  }
}

/**
 * A chunked response written straight to the socket: one pre-framed HTTP chunk, one socket
 * write per event. res.write would cork, wait a tick and write four buffers per chunk; with
 * hundreds of streams emitting a token every few milliseconds that machinery is most of the
 * simulator's CPU (bench/capacity/capacity.ts). Every body write of such a response goes through
 * here, so the order on the wire is the order of the calls; `end` lets node write the last chunk.
 */
export const chunked = {
  start(res: ServerResponse, status: number, headers: Record<string, string>): void {
    res.writeHead(status, headers);
    res.flushHeaders();
  },
  write(res: ServerResponse, text: string): void {
    const s = res.socket;
    if (!s || s.destroyed || text.length === 0) return;
    s.write(`${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`);
  },
  end(res: ServerResponse, text = ''): void {
    chunked.write(res, text);
    res.end();
  },
};
