// `llm-router ingress`: the OpenAI HTTP front door (stateless; run as many as you like).
import { Command, Option } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import { checkIngressFiles, startIngress } from '../ingress/server.ts';
import { INGRESS_DEFAULTS, validateIngressOptions } from '../ingress/options.ts';
import { WORKER_HEADER_MODES, type WorkerHeaderMode } from '../ingress/worker-header.ts';
import { AUDIT_MODES, type AuditMode } from '../audit/publisher.ts';
import { AUDIT_BODY_MODES, type AuditBodyMode } from '../proto/audit.ts';
import { connectNats } from '../runtime/nats.ts';
import { createLogger } from '../runtime/logger.ts';
import { onShutdown } from '../runtime/lifecycle.ts';
import { addBusOptions, randomId, type BusFlags } from './common.ts';
import { busIdentity } from './identity.ts';
import { natsOptions, tlsOptions } from './nats-options.ts';
import { integer } from './parsers.ts';
import { readSecret } from './secrets.ts';

/** The CLI's metrics port (the library's default is any free port). */
export const INGRESS_METRICS_PORT = 29100;

interface IngressFlags extends BusFlags {
  id?: string;
  host: string;
  port: number;
  socket?: string;
  region: string;
  bodyLimit?: number;
  acceptTimeoutMs: number;
  idleTimeoutMs: number;
  requestTimeoutMs: number;
  maxBufferedBytes: number;
  clientTimeoutMs: number;
  shutdownGraceMs: number;
  adminToken?: string;
  adminTokenFile?: string;
  adminNatsUser?: string;
  adminNatsPasswordFile?: string;
  logBodies?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  workerHeader: WorkerHeaderMode;
  workerHeaderKeyFile?: string;
  metricsHost: string;
  metricsPort: number;
  apiKeysFile?: string;
  maxConcurrentRequests: number;
  queueSize: number;
  queueTimeoutMs: number;
  anonymousRpm?: number;
  anonymousTpm?: number;
  audit: AuditMode;
  auditBodies: AuditBodyMode;
}

export function ingressCommand(): Command {
  const d = INGRESS_DEFAULTS;
  const cmd = new Command('ingress').description('run an ingress: the OpenAI API over HTTP, requests onto NATS');
  addBusOptions(cmd)
    .addOption(new Option('--id <id>', 'ingress id (letters, digits, _ -); default: the NATS user, else random'))
    .addOption(new Option('--host <addr>', 'listen address').env('LLMR_HOST').default(d.host))
    .addOption(new Option('--port <port>', 'listen port (0: any free port)').argParser(integer(0, 65535)).env('LLMR_PORT').default(d.port))
    .addOption(new Option('--socket <path>', 'listen on a Unix socket instead of host:port'))
    .addOption(new Option('--region <name>', "this ingress's region").env('LLMR_REGION').default(d.region))
    .addOption(new Option('--body-limit <bytes>', `largest request body; must fit NATS max_payload (default: ${d.bodyLimit}, or less if the bus's max_payload is smaller)`).argParser(integer(1024)))
    .addOption(new Option('--accept-timeout-ms <ms>', 'wait for a scheduler to accept').argParser(integer(1)).default(d.acceptTimeoutMs))
    .addOption(new Option('--idle-timeout-ms <ms>', 'silence allowed on an accepted stream').argParser(integer(1)).default(d.idleTimeoutMs))
    .addOption(new Option('--request-timeout-ms <ms>', 'whole-request deadline').argParser(integer(1)).default(d.requestTimeoutMs))
    .addOption(new Option('--max-buffered-bytes <bytes>', 'unread bytes a slow client may leave before its request is cancelled').argParser(integer(1)).default(d.maxBufferedBytes))
    .addOption(new Option('--log-bodies', 'log request bodies (at most 64 KiB each); off by default').env('LLMR_LOG_BODIES'))
    .addOption(new Option('--admin-token <token>', 'bearer token for the fleet API (/admin/v1/…); unset: the API refuses every call').env('LLMR_ADMIN_TOKEN'))
    .addOption(new Option('--admin-token-file <file>', 'read the fleet API token from this file').env('LLMR_ADMIN_TOKEN_FILE'))
    .addOption(new Option('--admin-nats-user <user>', "NATS user for the fleet API's own connection (the `admin` user of nats.conf); unset: the main connection").env('LLMR_ADMIN_NATS_USER'))
    .addOption(new Option('--admin-nats-password-file <file>', "file holding that user's password (or LLMR_ADMIN_NATS_PASSWORD)"))
    .addOption(new Option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); needs --tls-key').env('LLMR_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'the PEM private key of --tls-cert').env('LLMR_TLS_KEY'))
    .addOption(new Option('--worker-header <mode>', 'x-router-worker: opaque (keyed hash of the worker id), id, none').choices(WORKER_HEADER_MODES).default(d.workerHeader))
    .addOption(new Option('--worker-header-key-file <file>', 'HMAC key of opaque worker names (or LLMR_WORKER_HEADER_KEY); default: random per process'))
    .addOption(new Option('--metrics-host <addr>', 'address of the Prometheus /metrics endpoint').env('LLMR_METRICS_HOST').default(d.metricsHost))
    .addOption(new Option('--metrics-port <port>', 'port of the Prometheus /metrics endpoint (0: any free port)').argParser(integer(0, 65535)).env('LLMR_METRICS_PORT').default(INGRESS_METRICS_PORT))
    .addOption(new Option('--api-keys-file <file>', 'require Authorization: Bearer <key> on /v1/* with a key from this file (name:key per line); SIGHUP re-reads it').env('LLMR_API_KEYS_FILE'))
    .addOption(
      new Option('--max-concurrent-requests <n>', 'requests in flight at once (streams until their end); more wait in the queue (0: no limit)')
        .argParser(integer(0))
        .env('LLMR_MAX_CONCURRENT_REQUESTS')
        .default(d.maxConcurrentRequests),
    )
    .addOption(new Option('--queue-size <n>', 'requests that may wait for a slot; beyond, 429 at once').argParser(integer(0)).default(d.queueSize))
    .addOption(new Option('--queue-timeout-ms <ms>', 'longest wait for a slot; then 429').argParser(integer(1)).default(d.queueTimeoutMs))
    .addOption(new Option('--anonymous-rpm <n>', 'without --api-keys-file: requests per minute per client address, across every replica (JetStream KV)').argParser(integer(1)))
    .addOption(new Option('--anonymous-tpm <n>', 'without --api-keys-file: tokens per minute (prompt + max_tokens) per client address').argParser(integer(1)))
    .addOption(
      new Option(
        '--audit <mode>',
        'request records into JetStream stream LLM_AUDIT: off, best_effort (dropped and counted when JetStream is slow or down), required (new requests refused while records cannot be stored)',
      )
        .choices(AUDIT_MODES)
        .env('LLMR_AUDIT')
        .default(d.audit),
    )
    .addOption(new Option('--audit-bodies <what>', 'what a request record keeps of the body: none, hash (SHA-256), full').choices(AUDIT_BODY_MODES).default(d.auditBodies))
    .addOption(new Option('--shutdown-grace-ms <ms>', 'on SIGTERM, how long open streams may take to finish').argParser(integer(0)).default(10_000))
    .addOption(new Option('--client-timeout-ms <ms>', 'time a client may take to send its request').argParser(integer(1)).default(d.clientTimeoutMs))
    .action(async (f: IngressFlags) => {
      const id = busIdentity(f.id, f.natsUser, () => randomId('ingress'));
      const log = createLogger('ingress', f.logLevel).child({ ingressId: id });
      /** Stops the start with one clear line: no stack trace for an operator's mistake. */
      const fail = (e: unknown): never => {
        log.fatal({ err: (e as Error).message }, `ingress cannot start: ${(e as Error).message}`);
        process.exit(1);
      };
      let options: ReturnType<typeof validateIngressOptions>;
      let adminPassword: string | undefined;
      try {
        if ((f.tlsCert === undefined) !== (f.tlsKey === undefined)) throw new Error('--tls-cert and --tls-key go together');
        const workerHeaderKey = readSecret({ value: process.env.LLMR_WORKER_HEADER_KEY, file: f.workerHeaderKeyFile, what: '--worker-header-key-file' });
        adminPassword = readSecret({ value: process.env.LLMR_ADMIN_NATS_PASSWORD, file: f.adminNatsPasswordFile, what: '--admin-nats-password-file' });
        options = validateIngressOptions({
          id,
          host: f.host,
          port: f.port,
          socketPath: f.socket,
          region: f.region,
          bodyLimit: f.bodyLimit ?? null,
          acceptTimeoutMs: f.acceptTimeoutMs,
          idleTimeoutMs: f.idleTimeoutMs,
          requestTimeoutMs: f.requestTimeoutMs,
          maxBufferedBytes: f.maxBufferedBytes,
          clientTimeoutMs: f.clientTimeoutMs,
          probeIntervalMs: d.probeIntervalMs,
          adminToken: readSecret({ value: f.adminToken, file: f.adminTokenFile, what: '--admin-token-file' }) ?? null,
          logBodies: f.logBodies === true,
          workerHeader: f.workerHeader,
          workerHeaderKey,
          metricsHost: f.metricsHost,
          metricsPort: f.metricsPort,
          tlsCertFile: f.tlsCert,
          tlsKeyFile: f.tlsKey,
          apiKeysFile: f.apiKeysFile,
          maxConcurrentRequests: f.maxConcurrentRequests,
          queueSize: f.queueSize,
          queueTimeoutMs: f.queueTimeoutMs,
          anonymousRpm: f.anonymousRpm ?? null,
          anonymousTpm: f.anonymousTpm ?? null,
          audit: f.audit,
          auditBodies: f.auditBodies,
        });
        // Before connecting: a bad file must not wait for the bus to be reported.
        await checkIngressFiles(options);
      } catch (e) {
        return fail(e);
      }
      const nc = await connectNats(natsOptions(f, { name: `ingress-${id}`, inboxPrefix: `_INBOX_${id}` }), log);
      // The fleet API publishes as its own user, so that the data-plane user needs no llm.v1.admin.> rights.
      let adminNc: NatsConnection | undefined;
      if (f.adminNatsUser) {
        // The same servers and TLS as the data-plane connection, the admin user's own password.
        adminNc = await connectNats({ servers: f.natsUrl, tls: tlsOptions(f), user: f.adminNatsUser, password: adminPassword, name: `ingress-${id}-admin`, inboxPrefix: '_INBOX_admin' }, log);
      }
      const ingress = await startIngress(nc, options, log, { adminNc }).catch(fail);
      if (options.apiKeysFile !== undefined) {
        process.on('SIGHUP', () => {
          ingress.reloadApiKeys().catch((e: unknown) => log.error({ err: (e as Error).message }, 'API keys not reloaded: the previous keys stay in force'));
        });
      }
      onShutdown(log, async () => {
        await ingress.stop(f.shutdownGraceMs);
        await adminNc?.drain();
        await nc.drain();
      });
    });
  return cmd;
}
