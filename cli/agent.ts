// `llm-router agent`: heartbeats for one or more vLLM workers.
import { Command, Option } from 'commander';
import { AGENT_DEFAULTS, WorkerAgent } from '../adapters/agent.ts';
import type { ConnectorKind, Role } from '../proto/heartbeat.ts';
import { connectNats } from '../runtime/nats.ts';
import { createLogger } from '../runtime/logger.ts';
import { onShutdown } from '../runtime/lifecycle.ts';
import { addBusOptions, type BusFlags } from './common.ts';
import { busIdentity, hostAgentId } from './identity.ts';
import { natsOptions } from './nats-options.ts';
import { integer, list, subjectId } from './parsers.ts';

interface AgentFlags extends BusFlags {
  agentId?: string;
  worker: string[];
  role: Role;
  region: string;
  connector: ConnectorKind;
  zmqAddress?: string[];
  model?: string[];
  intervalMs: number;
  probeTimeoutMs: number;
}

function urls(value: string): string[] {
  const out = list(value);
  for (const u of out) new URL(u); // throws a clear error on a bad URL
  return out;
}

export function agentCommand(): Command {
  const d = AGENT_DEFAULTS;
  const cmd = new Command('agent').description('publish heartbeats (health and load) for vLLM workers');
  addBusOptions(cmd)
    .addOption(new Option('--worker <urls>', 'worker base URL(s), comma-separated').argParser(urls).makeOptionMandatory())
    .addOption(new Option('--agent-id <id>', 'who speaks for these workers (letters, digits, _ -); default: the NATS user, else agent-<hostname>').env('LLMR_AGENT_ID').argParser(subjectId))
    .addOption(new Option('--role <role>', 'P/D role of these workers').choices(['both', 'prefill', 'decode']).default('both'))
    .addOption(new Option('--region <name>', 'region of these workers').env('LLMR_REGION').default(d.region))
    .addOption(new Option('--connector <kind>', 'KV connector the workers run').choices(['nixl', 'p2p-nccl', 'none']).default('nixl'))
    .addOption(new Option('--zmq-address <addrs>', "P2P-NCCL: each worker's host:kv_port, in --worker order").argParser(list))
    .addOption(new Option('--model <names>', 'served model names (default: read from the workers)').argParser(list))
    .addOption(new Option('--interval-ms <ms>', 'heartbeat period').argParser(integer(50, 60_000)).default(d.intervalMs))
    .addOption(new Option('--probe-timeout-ms <ms>', 'health/metrics request timeout').argParser(integer(1)).default(d.probeTimeoutMs))
    .action(async (f: AgentFlags) => {
      const agentId = busIdentity(f.agentId, f.natsUser, hostAgentId);
      const log = createLogger('agent', f.logLevel).child({ agentId });
      const nc = await connectNats(natsOptions(f, { name: agentId, inboxPrefix: `_INBOX_${agentId}` }), log);
      const agent = new WorkerAgent(
        nc,
        {
          agentId,
          region: f.region,
          intervalMs: f.intervalMs,
          probeTimeoutMs: f.probeTimeoutMs,
          workers: f.worker.map((url, i) => ({ url, role: f.role, connector: f.connector, zmqAddress: f.zmqAddress?.[i], models: f.model })),
        },
        log,
      );
      await agent.start();
      log.info({ workers: agent.ids() }, 'agent started');
      onShutdown(log, async () => {
        await agent.stop();
        await nc.drain();
      });
    });
  return cmd;
}
