// The `llm-router` command: one subcommand per process kind (docs/ARCHITECTURE.md#processes). Only
// the invoked subcommand's modules are loaded, so that a scheduler does not carry the
// simulator's ZeroMQ bindings or the ingress's fastify in memory (help loads them all).
import { Command } from 'commander';

const COMMANDS: Record<string, () => Promise<Command>> = {
  dev: async () => (await import('./dev.ts')).devCommand(),
  ingress: async () => (await import('./ingress.ts')).ingressCommand(),
  scheduler: async () => (await import('./scheduler.ts')).schedulerCommand(),
  agent: async () => (await import('./agent.ts')).agentCommand(),
  'discover-zmq': async () => (await import('./discover-zmq.ts')).discoverZmqCommand(),
  sim: async () => (await import('./sim.ts')).simCommand(),
  audit: async () => (await import('./audit.ts')).auditCommand(),
  replay: async () => (await import('./replay.ts')).replayCommand(),
};

export async function main(argv: string[]): Promise<void> {
  const program = new Command('llm-router').description('A prefill/decode-aware load balancer for vLLM fleets, event-driven over NATS').showHelpAfterError();
  const invoked = argv[2];
  const load = invoked !== undefined && invoked in COMMANDS ? [COMMANDS[invoked]!] : Object.values(COMMANDS);
  for (const make of load) program.addCommand(await make());
  await program.parseAsync(argv);
}
