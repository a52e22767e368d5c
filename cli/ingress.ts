// `llm-router ingress`: the OpenAI HTTP front door (stateless; run as many as you like).
import { Command, Option } from 'commander';
import { startIngress } from '../ingress/server.ts';
import { INGRESS_DEFAULTS, validateIngressOptions } from '../ingress/options.ts';
import { connectNats } from '../runtime/nats.ts';
import { createLogger } from '../runtime/logger.ts';
import { onShutdown } from '../runtime/lifecycle.ts';
import { addBusOptions, randomId, type BusFlags } from './common.ts';
import { natsOptions } from './nats-options.ts';
import { integer } from './parsers.ts';

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
  logBodies?: boolean;
}

export function ingressCommand(): Command {
  const d = INGRESS_DEFAULTS;
  const cmd = new Command('ingress').description('run an ingress: the OpenAI API over HTTP, requests onto NATS');
  addBusOptions(cmd)
    .addOption(new Option('--id <id>', 'ingress id (letters, digits, _ -); default random'))
    .addOption(new Option('--host <addr>', 'listen address').env('LLMR_HOST').default(d.host))
    .addOption(new Option('--port <port>', 'listen port (0: any free port)').argParser(integer(0, 65535)).env('LLMR_PORT').default(d.port))
    .addOption(new Option('--socket <path>', 'listen on a Unix socket instead of host:port'))
    .addOption(new Option('--region <name>', 'this ingress\'s region').env('LLMR_REGION').default(d.region))
    .addOption(new Option('--body-limit <bytes>', `largest request body; must fit NATS max_payload (default: ${d.bodyLimit}, or less if the bus's max_payload is smaller)`).argParser(integer(1024)))
    .addOption(new Option('--accept-timeout-ms <ms>', 'wait for a scheduler to accept').argParser(integer(1)).default(d.acceptTimeoutMs))
    .addOption(new Option('--idle-timeout-ms <ms>', 'silence allowed on an accepted stream').argParser(integer(1)).default(d.idleTimeoutMs))
    .addOption(new Option('--request-timeout-ms <ms>', 'whole-request deadline').argParser(integer(1)).default(d.requestTimeoutMs))
    .addOption(new Option('--max-buffered-bytes <bytes>', 'unread bytes a slow client may leave before its request is cancelled').argParser(integer(1)).default(d.maxBufferedBytes))
    .addOption(new Option('--log-bodies', 'log request bodies (at most 64 KiB each); off by default').env('LLMR_LOG_BODIES'))
    .addOption(new Option('--admin-token <token>', 'bearer token for the fleet API (/admin/v1/…); unset: the API refuses every call').env('LLMR_ADMIN_TOKEN'))
    .addOption(new Option('--shutdown-grace-ms <ms>', 'on SIGTERM, how long open streams may take to finish').argParser(integer(0)).default(10_000))
    .addOption(new Option('--client-timeout-ms <ms>', 'time a client may take to send its request').argParser(integer(1)).default(d.clientTimeoutMs))
    .action(async (f: IngressFlags) => {
      const id = f.id ?? randomId('ingress');
      const options = validateIngressOptions({
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
        adminToken: f.adminToken ?? null,
        logBodies: f.logBodies === true,
      });
      const log = createLogger('ingress', f.logLevel).child({ ingressId: id });
      const nc = await connectNats(natsOptions(f, { name: `ingress-${id}`, inboxPrefix: '_INBOX_ingress' }), log);
      const ingress = await startIngress(nc, options, log);
      onShutdown(log, async () => {
        await ingress.stop(f.shutdownGraceMs);
        await nc.drain();
      });
    });
  return cmd;
}
