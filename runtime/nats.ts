// One way to connect to NATS for every process: named, reconnecting forever, `noAsyncTraces`
// (71k vs 41k req/s with 64 in flight: docs/ARCHITECTURE.md#the-hot-path), a per-role inbox prefix so that a role's
// permissions can confine request replies to its own inboxes, and status events logged. TLS and
// the ways of authenticating (password, nkey, .creds) come in as options; secrets are never logged.
import type { PeerCertificate } from 'node:tls';
import { checkServerIdentity } from 'node:tls';
import { isIP } from 'node:net';
import { connect, credsAuthenticator, errors, headers, nkeyAuthenticator, type MsgHdrs, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { BusState } from './bus-state.ts';
import { backoffCapMs, type Backoff } from './backoff.ts';
import { classifyConnectError } from './nats-connect-error.ts';

/** Waits between first-connection tries: 250 ms doubling to 2 s (no jitter: one process, one server). */
const FIRST_CONNECT_BACKOFF: Backoff = Object.freeze({ initialBackoffMs: 250, maxBackoffMs: 2000, multiplier: 2 });

/** Files for TLS to NATS; the object's presence asks for TLS (nats.js then refuses a server without it). */
export interface NatsTls {
  /** CA(s) that sign the server's certificate; default: the system's. */
  readonly caFile?: string | undefined;
  /** Client certificate and key, for servers that verify clients (mutual TLS). */
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
}

export interface NatsOptions {
  readonly servers: string;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** The content of a .creds file (user JWT and nkey seed); called at every (re)connect, so a rotated file is picked up. */
  readonly creds?: (() => Uint8Array) | undefined;
  /** An nkey user's seed; called at every (re)connect. */
  readonly nkeySeed?: (() => Uint8Array) | undefined;
  readonly tls?: NatsTls | undefined;
  /** Connection name, shown in the server's monitoring: `<role>-<id>`. */
  readonly name: string;
  /** `_INBOX_<role>`: nats.conf lets each role subscribe only to its own inboxes. */
  readonly inboxPrefix: string;
  /** Each connection attempt's bound (TCP, TLS, CONNECT to the first PONG). Default 20000, nats.js's. */
  readonly connectTimeoutMs?: number | undefined;
}

type AuthKind = 'none' | 'password' | 'creds' | 'nkey';

function authKind(o: NatsOptions): AuthKind {
  const given: AuthKind[] = [];
  if (o.user) given.push('password');
  if (o.creds) given.push('creds');
  if (o.nkeySeed) given.push('nkey');
  if (given.length > 1) throw new Error(`NATS: one way of authenticating, not ${given.join(' and ')}`);
  return given[0] ?? 'none';
}

/**
 * nats.js gives Node's TLS no server name for a URL with an IP address (nats.js#303), so Node
 * checks the certificate against "localhost" and refuses a certificate for the IP. Check the
 * address actually dialled instead, as the Go client does; with a name (a DNS URL) the standard
 * check runs. Node calls this with its connect options as `this`; anything else fails closed.
 */
function checkDialledIdentity(this: unknown, host: string, cert: PeerCertificate): Error | undefined {
  const o = (typeof this === 'object' && this !== null ? this : {}) as { servername?: unknown; socket?: { remoteAddress?: unknown } };
  const ip = o.socket?.remoteAddress;
  return checkServerIdentity(!o.servername && typeof ip === 'string' && isIP(ip) !== 0 ? ip : host, cert);
}

function natsTls(tls: NatsTls | undefined): NodeConnectionOptions['tls'] {
  if (!tls) return undefined;
  const out: NonNullable<NodeConnectionOptions['tls']> & { checkServerIdentity: typeof checkDialledIdentity } = {
    ...(tls.caFile ? { caFile: tls.caFile } : {}),
    ...(tls.certFile ? { certFile: tls.certFile } : {}),
    ...(tls.keyFile ? { keyFile: tls.keyFile } : {}),
    checkServerIdentity: checkDialledIdentity,
  };
  return out;
}

/** `nats://user:pass@host` would put a password in the logs. */
function safeServers(servers: string): string {
  return servers.replace(/\/\/[^/@,]*@/g, '//');
}

function connectOptions(o: NatsOptions): NodeConnectionOptions {
  const auth = authKind(o);
  return {
    servers: o.servers.split(',').map((s) => s.trim()),
    name: o.name,
    ...(auth === 'password' ? { user: o.user, pass: o.password ?? '' } : {}),
    ...(auth === 'creds' && o.creds ? { authenticator: credsAuthenticator(o.creds) } : {}),
    ...(auth === 'nkey' && o.nkeySeed ? { authenticator: nkeyAuthenticator(o.nkeySeed) } : {}),
    ...(o.tls ? { tls: natsTls(o.tls) } : {}),
    inboxPrefix: o.inboxPrefix,
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    pingInterval: 10_000,
    timeout: o.connectTimeoutMs ?? 20_000,
    // The first connection is retried here, not by nats.js, which would retry a refused
    // certificate or password forever without saying so.
    waitOnFirstConnect: false,
  };
}

/**
 * nats.js reports a server that drops the connection during the handshake (a TLS 1.3 server
 * refusing the client's certificate does so after the handshake) as a timeout; one try without
 * reconnects reports the server's reason.
 */
async function reasonForTimeout(opts: NodeConnectionOptions): Promise<unknown> {
  try {
    const nc = await connect({ ...opts, reconnect: false });
    await nc.close();
    return undefined;
  } catch (e) {
    return e;
  }
}

/**
 * Connects, waiting for a server that is not up yet (logged, backing off to 2 s); a refused
 * certificate or credentials rejects at once with the reason. Reconnects forever afterwards.
 */
export async function connectNats(o: NatsOptions, log: Logger): Promise<NatsConnection> {
  const opts = connectOptions(o);
  const where = safeServers(o.servers);
  let nc: NatsConnection | undefined;
  for (let attempt = 1; !nc; attempt++) {
    try {
      nc = await connect(opts);
    } catch (e) {
      const timedOut = e instanceof errors.TimeoutError;
      const cause = timedOut ? ((await reasonForTimeout(opts)) ?? e) : e;
      const verdict = classifyConnectError(cause, { droppedAfterTls: timedOut && o.tls !== undefined });
      if (verdict.kind === 'refused') {
        log.fatal({ nats: where, reason: verdict.reason }, 'NATS refused this client');
        throw new Error(`NATS at ${where} refused ${o.name}: ${verdict.reason}`, { cause });
      }
      log.warn({ nats: where, attempt, reason: verdict.reason }, 'NATS not reachable yet; retrying');
      await new Promise((r) => setTimeout(r, backoffCapMs(attempt, FIRST_CONNECT_BACKOFF)));
    }
  }
  log.info({ nats: nc.getServer(), tls: o.tls !== undefined, auth: authKind(o) }, 'connected to NATS');
  logBusStatus(nc, log);
  return nc;
}

/** Logs the connection's status events (from its BusState, which follows them once for all). */
export function logBusStatus(nc: NatsConnection, log: Logger): void {
  BusState.of(nc).onStatus((s) => {
    if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') log.warn({ nats: s.type, server: (s as { server?: string }).server }, `nats ${s.type}`);
    else log.debug({ nats: s.type }, `nats ${s.type}`);
  });
}

/** NATS headers from a plain record (the proto codecs speak records, to stay I/O-free). */
export function natsHeaders(record: Readonly<Record<string, string>>): MsgHdrs {
  const h = headers();
  for (const [k, v] of Object.entries(record)) h.set(k, v);
  return h;
}

export function headerGetter(h: MsgHdrs | undefined): (name: string) => string | undefined {
  return (name) => {
    if (!h) return undefined;
    const v = h.get(name);
    return v === '' && !h.has(name) ? undefined : v;
  };
}
