// `llm-router discover-zmq`: the ZeroMQ discovery bridge for vLLM P2P-NCCL fleets (an agent).
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { AGENT_DEFAULTS, WorkerAgent } from '../adapters/agent.ts';
import { parseCurveClients } from '../adapters/curve-keys.ts';
import { DISCOVER_DEFAULTS, validateDiscoverOptions, type CurveServerInput, type DiscoverInput } from '../adapters/discover-options.ts';
import { ZmqDiscovery } from '../adapters/discover-zmq.ts';
import { AllowList } from '../runtime/address-allow.ts';
import { connectNats } from '../runtime/nats.ts';
import { createLogger } from '../runtime/logger.ts';
import { onShutdown } from '../runtime/lifecycle.ts';
import { addBusOptions, type BusFlags } from './common.ts';
import { busIdentity, hostAgentId } from './identity.ts';
import { natsOptions } from './nats-options.ts';
import { integer, list, subjectId } from './parsers.ts';
import { readSecret } from './secrets.ts';

/** The secret key's value is taken from the environment only: a flag would show it in `ps`. */
export const CURVE_SECRET_KEY_ENV = 'LLMR_ZMQ_CURVE_SECRET_KEY';

interface DiscoverFlags extends BusFlags {
  agentId?: string;
  bind: string;
  region: string;
  ttlMs: number;
  intervalMs: number;
  model?: string[];
  allow?: string[];
  maxInstances: number;
  curveSecretKeyFile?: string;
  curvePublicKey?: string;
  curveClientsFile?: string;
}

/** `tcp://HOST:PORT`, `tcp://[IPv6]:PORT`. */
function routerEndpoint(value: string): string {
  if (!/^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):\d{1,5}$/.test(value)) throw new InvalidArgumentError('expected tcp://HOST:PORT or tcp://[IPv6]:PORT');
  return value;
}

function cidrs(value: string): string[] {
  const l = list(value);
  try {
    new AllowList(l);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return l;
}

/** CURVE settings from the flags and the environment; null when no secret key is configured. */
export function curveFromFlags(f: Pick<DiscoverFlags, 'curveSecretKeyFile' | 'curvePublicKey' | 'curveClientsFile'>, env: NodeJS.ProcessEnv): CurveServerInput | null {
  const secretKey = readSecret({ value: env[CURVE_SECRET_KEY_ENV], file: f.curveSecretKeyFile, what: '--curve-secret-key-file' })?.trim();
  if (!secretKey) {
    if (f.curveClientsFile || f.curvePublicKey) throw new Error(`--curve-clients-file and --curve-public-key need the server's secret key (--curve-secret-key-file or ${CURVE_SECRET_KEY_ENV})`);
    return null;
  }
  if (!f.curveClientsFile) throw new Error('CURVE needs --curve-clients-file: the public keys allowed to register');
  let text: string;
  try {
    text = readFileSync(f.curveClientsFile, 'utf8');
  } catch (e) {
    throw new Error(`--curve-clients-file: cannot read ${f.curveClientsFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return { secretKey, publicKey: f.curvePublicKey, clients: parseCurveClients(text) };
  } catch (e) {
    throw new Error(`--curve-clients-file ${f.curveClientsFile}: ${(e as Error).message}`);
  }
}

export function discoverZmqCommand(): Command {
  const d = DISCOVER_DEFAULTS;
  const cmd = new Command('discover-zmq').description('take P2P-NCCL registrations on a ZeroMQ ROUTER and heartbeat for the instances');
  addBusOptions(cmd)
    .addOption(new Option('--agent-id <id>', 'who speaks for the instances (letters, digits, _ -); default: the NATS user, else agent-<hostname>').env('LLMR_AGENT_ID').argParser(subjectId))
    .addOption(new Option('--bind <endpoint>', 'ROUTER endpoint the vLLM instances register with').argParser(routerEndpoint).env('LLMR_ZMQ_BIND').default(d.bind))
    .addOption(
      new Option('--allow <cidrs>', 'IPv4/IPv6 CIDRs registrants must connect from and whose addresses they may name (default: anyone, with a warning)').argParser(cidrs).env('LLMR_ZMQ_ALLOW'),
    )
    .addOption(
      new Option('--max-instances <n>', 'live instances at most; registrations of new ones past it are refused').argParser(integer(1, 1_000_000)).env('LLMR_ZMQ_MAX_INSTANCES').default(d.maxInstances),
    )
    .addOption(
      new Option('--curve-secret-key-file <path>', `file holding the server's Z85 CURVE secret key (or the key itself in ${CURVE_SECRET_KEY_ENV}); turns CURVE on`).env(
        'LLMR_ZMQ_CURVE_SECRET_KEY_FILE',
      ),
    )
    .addOption(new Option('--curve-public-key <z85>', "the server's public key, checked against the secret key (default: derived from it)").env('LLMR_ZMQ_CURVE_PUBLIC_KEY'))
    .addOption(new Option('--curve-clients-file <path>', 'client public keys allowed to register, one "KEY [name]" a line').env('LLMR_ZMQ_CURVE_CLIENTS_FILE'))
    .addOption(new Option('--region <name>', 'region of these workers').env('LLMR_REGION').default(AGENT_DEFAULTS.region))
    .addOption(new Option('--ttl-ms <ms>', 'an instance expires this long after its last registration').argParser(integer(100)).default(d.ttlMs))
    .addOption(new Option('--interval-ms <ms>', 'heartbeat period').argParser(integer(50, 60_000)).default(AGENT_DEFAULTS.intervalMs))
    .addOption(new Option('--model <names>', 'served model names (default: read from the workers)').argParser(list))
    .action(async (f: DiscoverFlags) => {
      let input: DiscoverInput;
      try {
        input = { bind: f.bind, ttlMs: f.ttlMs, models: f.model, allow: f.allow ?? null, maxInstances: f.maxInstances, curve: curveFromFlags(f, process.env) };
        validateDiscoverOptions(input);
      } catch (e) {
        return cmd.error(`error: ${(e as Error).message}`);
      }
      const agentId = busIdentity(f.agentId, f.natsUser, hostAgentId);
      const log = createLogger('discover-zmq', f.logLevel).child({ agentId });
      const nc = await connectNats(natsOptions(f, { name: agentId, inboxPrefix: `_INBOX_${agentId}` }), log);
      const agent = new WorkerAgent(nc, { agentId, region: f.region, intervalMs: f.intervalMs, probeTimeoutMs: AGENT_DEFAULTS.probeTimeoutMs, workers: [] }, log);
      await agent.start();
      const discovery = new ZmqDiscovery(input, agent, log);
      await discovery.start();
      onShutdown(log, async () => {
        discovery.stop();
        await agent.stop();
        await nc.drain();
      });
    });
  return cmd;
}
