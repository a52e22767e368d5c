// `node --import tsx bench/floor/bare-proxy.ts <port> <worker-url>...`: the least a Node.js
// reverse proxy can do per request and per streamed event — node:http in front, undici's dispatch
// callbacks behind (no Readable, no promise per chunk), round robin, each upstream chunk written to
// the client as it comes. No parsing, no validation, no metrics, no logging, no bus. It is the
// floor the router's two Node.js hops stand on: what Node itself costs, apart from the design.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent, type Dispatcher } from 'undici';

const [portArg, ...workers] = process.argv.slice(2);
if (!portArg || workers.length === 0) throw new Error('usage: bare-proxy.ts <port> <worker-url>...');
const agent = new Agent({ connections: 1024, keepAliveTimeout: 120_000 });
let next = 0;

class Relay implements Dispatcher.DispatchHandler {
  readonly res: ServerResponse;
  constructor(res: ServerResponse) {
    this.res = res;
  }
  onRequestStart(): void {}
  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    const ct = headers['content-type'];
    this.res.writeHead(status, typeof ct === 'string' ? { 'content-type': ct } : {});
  }
  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.res.write(chunk);
  }
  onResponseEnd(): void {
    this.res.end();
  }
  onResponseError(_c: Dispatcher.DispatchController | null, _e: Error): void {
    if (!this.res.headersSent) this.res.writeHead(502);
    this.res.end();
  }
}

function forward(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const origin = workers[next++ % workers.length]!;
  agent.dispatch({ origin, path: req.url ?? '/', method: req.method === 'GET' ? 'GET' : 'POST', headers: { 'content-type': 'application/json' }, body }, new Relay(res));
}

createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => forward(req, res, parts.length === 1 ? parts[0]! : Buffer.concat(parts)));
}).listen(Number(portArg), '127.0.0.1');
