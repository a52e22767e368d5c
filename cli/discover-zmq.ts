// `llm-router discover-zmq`: the ZeroMQ discovery bridge for vLLM P2P-NCCL fleets (an agent).
import { Command, Option } from 'commander';
import { AGENT_DEFAULTS, WorkerAgent } from '../adapters/agent.ts';
import { ZmqDiscovery } from '../adapters/discover-zmq.ts';
import { connectNats } from '../runtime/nats.ts';
import { createLogger } from '../runtime/logger.ts';
import { onShutdown } from '../runtime/lifecycle.ts';
import { addBusOptions, randomId, type BusFlags } from './common.ts';
import { natsOptions } from './nats-options.ts';
import { integer, list, zmqEndpoint } from './parsers.ts';

interface DiscoverFlags extends BusFlags {
  bind: string;
  region: string;
  ttlMs: number;
  intervalMs: number;
  model?: string[];
}

export function discoverZmqCommand(): Command {
  const cmd = new Command('discover-zmq').description('take P2P-NCCL registrations on a ZeroMQ ROUTER and heartbeat for the instances');
  addBusOptions(cmd)
    .addOption(new Option('--bind <endpoint>', 'ROUTER endpoint the vLLM instances register with').argParser(zmqEndpoint).default('tcp://0.0.0.0:30001'))
    .addOption(new Option('--region <name>', 'region of these workers').env('LLMR_REGION').default(AGENT_DEFAULTS.region))
    .addOption(new Option('--ttl-ms <ms>', 'an instance expires this long after its last registration').argParser(integer(100)).default(5000))
    .addOption(new Option('--interval-ms <ms>', 'heartbeat period').argParser(integer(50, 60_000)).default(AGENT_DEFAULTS.intervalMs))
    .addOption(new Option('--model <names>', 'served model names (default: read from the workers)').argParser(list))
    .action(async (f: DiscoverFlags) => {
      const log = createLogger('discover-zmq', f.logLevel);
      const nc = await connectNats(natsOptions(f, { name: randomId('discover-zmq'), inboxPrefix: '_INBOX_agent' }), log);
      const agent = new WorkerAgent(nc, { region: f.region, intervalMs: f.intervalMs, probeTimeoutMs: AGENT_DEFAULTS.probeTimeoutMs, workers: [] }, log);
      await agent.start();
      const discovery = new ZmqDiscovery({ bind: f.bind, ttlMs: f.ttlMs, models: f.model }, agent, log);
      await discovery.start();
      onShutdown(log, async () => {
        discovery.stop();
        await agent.stop();
        await nc.drain();
      });
    });
  return cmd;
}
