// The ingress process: NATS connection, the stream client, the fastify app (HTTP or HTTPS), the
// metrics endpoint on its own port, and an orderly stop. Files it is given (TLS, API keys) are
// read here, before anything listens: an unreadable one stops the start with a message naming it.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errors } from '../proto/errors.ts';
import { buildApp } from './app.ts';
import { INGRESS_DEFAULTS, type IngressOptions } from './options.ts';
import { StreamClient } from './stream-client.ts';
import { BusState } from '../runtime/bus-state.ts';
import { IngressMetrics } from './metrics.ts';
import { registerNatsMetrics } from '../runtime/nats-metrics.ts';
import { serveMetrics } from '../runtime/metrics-server.ts';
import { Admission } from './admission.ts';
import { NO_AUDIT, type AuditPublisher } from '../audit/publisher.ts';
import { startAuditPublisher } from '../audit/metrics.ts';
import { AUDIT_STREAM_DEFAULTS, ensureAuditStream } from '../audit/stream.ts';
import { KvLeaseStore, RATE_LIMIT_BUCKET } from './rate-limit-store.ts';
import { RateLimiter, type LeaseStore } from './rate-limiter.ts';
import { ApiKeys, parseApiKeys } from './api-keys.ts';
import { workerHeaderValue } from './worker-header.ts';

/** Room kept in a NATS message for our headers next to the client's body. */
const HEADER_ROOM = 16 * 1024;

export interface Ingress {
  readonly app: FastifyInstance;
  readonly options: Readonly<IngressOptions & { bodyLimit: number }>;
  readonly streams: StreamClient;
  /** --max-concurrent-requests: slots held and requests queued. */
  readonly admission: Pick<Admission, 'enabled' | 'inFlight' | 'waiting'>;
  /** The public base URL (`https://…` with TLS). */
  readonly url: string;
  /** Prometheus metrics (GET), on --metrics-host/--metrics-port, never on the public port. */
  readonly metricsUrl: string;
  /**
   * Reads --api-keys-file again and swaps the keys in (the CLI does it on SIGHUP); returns how
   * many there are. A file that does not parse leaves the old keys in force and throws.
   */
  reloadApiKeys(): Promise<number>;
  stop(graceMs?: number): Promise<void>;
}

export interface IngressDeps {
  /** The fleet API's own NATS connection (the `admin` user); absent: the main connection. */
  readonly adminNc?: NatsConnection | undefined;
}

/** A file's bytes, or an Error naming the option it came from. */
async function readOption(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new Error(`cannot read ${flag} ${path}: ${(e as Error).message}`);
  }
}

async function loadApiKeys(path: string): Promise<ReturnType<typeof parseApiKeys>> {
  return parseApiKeys((await readOption('--api-keys-file', path)).toString('utf8'), `--api-keys-file ${path}`);
}

async function loadTls(certFile: string, keyFile: string): Promise<{ cert: Buffer; key: Buffer }> {
  const cert = await readOption('--tls-cert', certFile);
  const key = await readOption('--tls-key', keyFile);
  try {
    createSecureContext({ cert, key });
  } catch (e) {
    throw new Error(`--tls-cert ${certFile} / --tls-key ${keyFile}: not a PEM certificate and its private key (${(e as Error).message})`);
  }
  return { cert, key };
}

/**
 * The audit publisher (null with --audit off). The stream is the schedulers' to create: an ingress
 * that finds none yet says so and goes on (records wait, or are dropped, until it exists).
 */
async function startAudit(nc: NatsConnection, o: IngressOptions, log: Logger, registry: Registry): Promise<AuditPublisher | null> {
  if (o.audit === 'off') return null;
  try {
    await ensureAuditStream(nc, AUDIT_STREAM_DEFAULTS, { create: false, log });
  } catch (e) {
    log.warn({ err: (e as Error).message, audit: o.audit }, 'audit stream not ready');
  }
  return startAuditPublisher(nc, { mode: o.audit, region: o.region, source: 'ingress' }, log, registry);
}

/**
 * The KV store, opened at its first use (and again after a failure: the bus may have been down);
 * `ready` opens it now, for limits known at start.
 */
function lazyLeaseStore(nc: NatsConnection): LeaseStore & { ready(): Promise<KvLeaseStore> } {
  let open: Promise<KvLeaseStore> | null = null;
  const ready = (): Promise<KvLeaseStore> =>
    (open ??= KvLeaseStore.open(nc).catch((e: unknown) => {
      open = null;
      throw e;
    }));
  return {
    ready,
    async lease(key, want, limit) {
      return (await ready()).lease(key, want, limit);
    },
  };
}

/** The body limit in force: the one asked for (which must fit the bus), or as much as the bus allows up to the default. */
export function effectiveBodyLimit(asked: number | null, maxPayload: number): number {
  if (asked === null) return Math.min(INGRESS_DEFAULTS.bodyLimit, maxPayload - HEADER_ROOM);
  if (asked + HEADER_ROOM > maxPayload) {
    throw new RangeError(`body limit ${asked} B does not fit the bus's max_payload ${maxPayload} B (with ${HEADER_ROOM} B for headers): lower --body-limit or raise max_payload in nats.conf`);
  }
  return asked;
}

/** Reads and checks the files `o` names (TLS, API keys), throwing what startIngress would: for a CLI to fail before it connects. */
export async function checkIngressFiles(o: Readonly<IngressOptions>): Promise<void> {
  if (o.tlsCertFile !== undefined && o.tlsKeyFile !== undefined) await loadTls(o.tlsCertFile, o.tlsKeyFile);
  if (o.apiKeysFile !== undefined) await loadApiKeys(o.apiKeysFile);
}

export async function startIngress(nc: NatsConnection, asked: Readonly<IngressOptions>, log: Logger, deps: IngressDeps = {}): Promise<Ingress> {
  const tls = asked.tlsCertFile !== undefined && asked.tlsKeyFile !== undefined ? await loadTls(asked.tlsCertFile, asked.tlsKeyFile) : null;
  const keysFile = asked.apiKeysFile;
  const apiKeys = keysFile !== undefined ? new ApiKeys(await loadApiKeys(keysFile)) : null;
  // Without a configured key the opaque names hold only for this process's life.
  const workerHeader = workerHeaderValue(asked.workerHeader, asked.workerHeaderKey ?? randomBytes(32));
  const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
  const options = { ...asked, bodyLimit: effectiveBodyLimit(asked.bodyLimit, maxPayload) };
  if (asked.bodyLimit === null && options.bodyLimit < INGRESS_DEFAULTS.bodyLimit)
    log.warn({ bodyLimit: options.bodyLimit, maxPayload }, 'body limit lowered to fit the bus: raise max_payload in nats.conf for larger requests');
  const streams = new StreamClient(nc, options.id, options, log);
  const bus = BusState.of(nc);
  // Frames published while we are away are lost; say so now rather than at the idle timeout.
  bus.onDown(() => streams.failAll(() => errors.LLMR_ERR_BUS_UNAVAILABLE('disconnected from NATS')));
  await streams.start();
  let closing = false;
  const leases = lazyLeaseStore(nc);
  const limiter = new RateLimiter(leases);
  // Limits known at start need the bus's JetStream now: an operator learns at once, not at the first request.
  if (options.anonymousRpm !== null || options.anonymousTpm !== null || (apiKeys?.hasLimits ?? false)) {
    try {
      await leases.ready();
    } catch (e) {
      await streams.stop();
      throw new Error(`rate limits need JetStream KV (bucket ${RATE_LIMIT_BUCKET}) on the bus: ${(e as Error).message}`);
    }
  }
  const admission = new Admission({ maxConcurrent: options.maxConcurrentRequests, queueSize: options.queueSize, queueTimeoutMs: options.queueTimeoutMs });
  const metrics = new IngressMetrics(options.id, () => streams.openStreams, admission, limiter);
  const audit = await startAudit(nc, options, log, metrics.registry);
  registerNatsMetrics(metrics.registry, nc);
  const app = buildApp({ options, nc, adminNc: deps.adminNc, streams, log, bus, closing: () => closing, metrics, apiKeys, workerHeader, tls, admission, limiter, audit: audit ?? NO_AUDIT });
  let metricsEndpoint: Awaited<ReturnType<typeof serveMetrics>>;
  try {
    metricsEndpoint = await serveMetrics(metrics.registry, options.metricsHost, options.metricsPort ?? 0);
  } catch (e) {
    await streams.stop();
    throw new Error(`cannot serve metrics on --metrics-host ${options.metricsHost} --metrics-port ${options.metricsPort ?? 0}: ${(e as Error).message}`);
  }
  let address: string;
  try {
    address = await app.listen(options.socketPath ? { path: options.socketPath } : { host: options.host, port: options.port });
  } catch (e) {
    metricsEndpoint.server.close();
    metricsEndpoint.server.closeAllConnections();
    await streams.stop();
    throw e;
  }
  log.info({ address, metrics: metricsEndpoint.url, tls: tls !== null, apiKeys: apiKeys?.size ?? 0, workerHeader: options.workerHeader }, 'ingress listening');
  return {
    app,
    options,
    streams,
    admission,
    url: address,
    metricsUrl: metricsEndpoint.url,
    async reloadApiKeys() {
      if (!apiKeys || keysFile === undefined) throw new Error('no --api-keys-file to reload');
      const entries = await loadApiKeys(keysFile);
      apiKeys.replace(entries);
      log.info({ apiKeys: entries.length, names: entries.map((e) => e.name) }, 'API keys reloaded');
      return entries.length;
    },
    /**
     * Graceful stop: refuse new requests, let open streams finish for up to `graceMs`, then fail
     * what is left (SSE clients get an error event) and close every connection.
     */
    async stop(graceMs = 10_000) {
      closing = true;
      const closed = app.close();
      const deadline = Date.now() + graceMs;
      while (streams.openStreams > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      await streams.stop();
      // Records of the requests that just ended still go out.
      await audit?.drain(2000);
      app.server.closeAllConnections();
      await closed;
      const metricsClosed = new Promise<void>((r) => metricsEndpoint.server.close(() => r()));
      metricsEndpoint.server.closeAllConnections();
      await metricsClosed;
    },
  };
}
