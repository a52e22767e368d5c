// `llm-router sim`: N simulated vLLM workers in one process (sim/).
import { Command, Option } from 'commander';
import { FLEET_DEFAULTS, startFleet } from '../sim/fleet.ts';
import { PROFILE_NAMES, type ProfileName } from '../sim/profiles.ts';
import type { WorkerRole } from '../sim/worker.ts';
import type { KvConnector } from '../sim/generate.ts';
import { integer, list, port, range, zmqEndpoint } from './parsers.ts';

interface SimFlags {
  apiKey?: string;
  workers: number;
  basePort: number;
  host: string;
  role: WorkerRole;
  profile: ProfileName;
  model?: string[];
  kvConnector: KvConnector;
  kvLoadFailurePolicy: 'recompute' | 'fail';
  kvLeaseMs: number;
  kvBasePort?: number;
  kvWaitMs: number;
  proxy?: string;
  kvBlocks?: number;
  maxNumSeqs?: number;
  schedulingPolicy: 'fcfs' | 'priority';
  maxNumBatchedTokens?: number;
  outputLen: { min: number; max: number };
  timeScale: number;
}

export function simCommand(): Command {
  const d = FLEET_DEFAULTS;
  return (
    new Command('sim')
      .description('run simulated vLLM workers (same HTTP API, SSE, metrics and P/D protocols, realistic timing)')
      .addOption(new Option('--workers <n>', 'number of workers').argParser(integer(1, 1024)).default(d.workers))
      .addOption(new Option('--base-port <port>', 'port of the first worker; worker i listens on base+i').argParser(port).default(d.basePort))
      .addOption(new Option('--host <addr>', 'address to listen on and to advertise').default(d.host))
      .addOption(new Option('--role <role>', 'P/D role').choices(['both', 'prefill', 'decode']).default(d.role))
      .addOption(new Option('--profile <name>', 'engine cost model').choices(PROFILE_NAMES).default(d.profile))
      .addOption(new Option('--model <names>', "served model name(s), comma-separated (default: the profile's model)").argParser(list))
      .addOption(new Option('--kv-connector <kind>', 'KV transfer connector').choices(['nixl', 'p2p-nccl', 'none']).default(d.kvConnector))
      .addOption(new Option('--kv-load-failure-policy <p>', 'decode side, when the KV cannot be loaded').choices(['recompute', 'fail']).default(d.kvLoadFailurePolicy))
      .addOption(new Option('--kv-lease-ms <ms>', 'NIXL: how long a prefill worker holds KV for a decode worker').argParser(integer(1)).default(d.kvLeaseMs))
      .addOption(new Option('--kv-base-port <port>', 'P2P-NCCL: ZeroMQ port of the first worker (default: base-port + 1000)').argParser(port))
      .addOption(new Option('--kv-wait-ms <ms>', 'P2P-NCCL: how long a decode request waits for its KV').argParser(integer(1)).default(d.kvWaitMs))
      .addOption(new Option('--proxy <endpoint>', 'P2P-NCCL: discovery proxy (ZeroMQ ROUTER), tcp://HOST:PORT').argParser(zmqEndpoint))
      .addOption(new Option('--kv-blocks <n>', "KV-cache capacity in blocks of 16 (default: the profile's)").argParser(integer(1)))
      .addOption(new Option('--max-num-seqs <n>', "running-batch limit (default: the profile's)").argParser(integer(1)))
      .addOption(new Option('--scheduling-policy <policy>', "as vLLM's: fcfs, or priority (waiting requests by their `priority` field)").choices(['fcfs', 'priority']).default('fcfs'))
      .addOption(new Option('--max-num-batched-tokens <n>', "token budget per step (default: the profile's)").argParser(integer(1)))
      .addOption(
        new Option('--time-scale <k>', 'every simulated duration multiplied by k (benchmarks of large fleets on small machines)')
          .argParser((v) => {
            const n = Number(v);
            if (!(n > 0 && n <= 1000)) throw new Error('expected a number in (0, 1000]');
            return n;
          })
          .default(1),
      )
      .addOption(new Option('--output-len <min:max>', 'natural answer length range (without ignore_eos)').argParser(range).default(d.outputLength, '32:256'))
      // As vLLM: the key from --api-key or VLLM_API_KEY (prefer the environment: flags show in `ps`).
      .addOption(new Option('--api-key <key>', 'require Authorization: Bearer <key> on /v1 routes, as vLLM --api-key').env('VLLM_API_KEY'))
      .action(async (f: SimFlags) => {
        if (f.kvConnector !== 'p2p-nccl' && f.proxy) throw new Error('--proxy only applies with --kv-connector p2p-nccl');
        const fleet = await startFleet({
          workers: f.workers,
          host: f.host,
          basePort: f.basePort,
          role: f.role,
          profile: f.profile,
          ...(f.model ? { models: f.model } : {}),
          kvConnector: f.kvConnector,
          kvLoadFailurePolicy: f.kvLoadFailurePolicy,
          kvLeaseMs: f.kvLeaseMs,
          kvBasePort: f.kvBasePort ?? f.basePort + 1000,
          proxy: f.proxy ?? null,
          kvWaitMs: f.kvWaitMs,
          outputLength: f.outputLen,
          timeScale: f.timeScale,
          apiKey: f.apiKey,
          ...(f.kvBlocks !== undefined ? { numGpuBlocks: f.kvBlocks } : {}),
          ...(f.maxNumSeqs !== undefined ? { maxNumSeqs: f.maxNumSeqs } : {}),
          schedulingPolicy: f.schedulingPolicy,
          ...(f.maxNumBatchedTokens !== undefined ? { maxNumBatchedTokens: f.maxNumBatchedTokens } : {}),
        });
        for (const w of fleet) {
          const zmq = w.p2p ? ` zmq=${w.p2p.zmqAddress}` : '';
          process.stdout.write(`sim: ${w.url} role=${f.role} profile=${f.profile} model=${w.options.models.join(',')} connector=${f.kvConnector}${zmq}\n`);
        }
        const stop = (): void => {
          Promise.all(fleet.map((w) => w.stop())).then(() => process.exit(0));
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      })
  );
}
