// One way to connect to NATS for every process: named, reconnecting forever, `noAsyncTraces`
// (71k vs 41k req/s in research/dynamo-nats.md §C2), a per-role inbox prefix so that a role's
// permissions can confine request replies to its own inboxes, and status events logged.
import { connect, headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';

export interface NatsOptions {
  readonly servers: string;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** Connection name, shown in the server's monitoring: `<role>-<id>`. */
  readonly name: string;
  /** `_INBOX_<role>`: nats.conf lets each role subscribe only to its own inboxes. */
  readonly inboxPrefix: string;
}

export async function connectNats(o: NatsOptions, log: Logger): Promise<NatsConnection> {
  const nc = await connect({
    servers: o.servers.split(',').map((s) => s.trim()),
    name: o.name,
    ...(o.user ? { user: o.user, pass: o.password ?? '' } : {}),
    inboxPrefix: o.inboxPrefix,
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    pingInterval: 10_000,
    waitOnFirstConnect: true,
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') log.warn({ nats: s.type, server: (s as { server?: string }).server }, `nats ${s.type}`);
      else log.debug({ nats: s.type }, `nats ${s.type}`);
    }
  })();
  return nc;
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
