// Small TCP checks used by the commands that start other processes (dev, benchmarks, tests).
import { connect, createServer } from 'node:net';

/** Whether something accepts TCP connections at host:port now. */
export function tcpAnswers(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Whether this process could listen on 127.0.0.1:port now. */
export function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port that was free on 127.0.0.1 a moment ago (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(p));
    });
  });
}

/**
 * `n` consecutive free ports (simulated workers listen on base … base+n−1): scanning up from
 * `from` when given (predictable ports for a dev stack), else at random bases between 20000 and
 * 50000 (so that parallel runs rarely collide).
 */
export async function freePortRange(n: number, from?: number): Promise<number> {
  const bases =
    from !== undefined ? Array.from({ length: Math.floor((60_000 - from) / (n + 1)) }, (_, i) => from + i * (n + 1)) : Array.from({ length: 50 }, () => 20_000 + Math.floor(Math.random() * 30_000));
  for (const base of bases) {
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = await canListen(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports found`);
}
