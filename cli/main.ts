// The `llm-router` command: one subcommand per process kind (see DESIGN.md "Processes").
import { Command } from 'commander';
import { agentCommand } from './agent.ts';
import { devCommand } from './dev.ts';
import { discoverZmqCommand } from './discover-zmq.ts';
import { ingressCommand } from './ingress.ts';
import { schedulerCommand } from './scheduler.ts';
import { simCommand } from './sim.ts';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('llm-router')
    .description('A prefill/decode-aware load balancer for vLLM fleets, event-driven over NATS')
    .showHelpAfterError()
    .addCommand(devCommand())
    .addCommand(ingressCommand())
    .addCommand(schedulerCommand())
    .addCommand(agentCommand())
    .addCommand(discoverZmqCommand())
    .addCommand(simCommand());
  await program.parseAsync(argv);
}
