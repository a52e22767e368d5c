// Options every bus-connected command shares: where NATS is and who we are on it, and logging.
import { randomBytes } from 'node:crypto';
import { Option, type Command } from 'commander';

export interface BusFlags {
  natsUrl: string;
  natsUser?: string;
  natsPassword?: string;
  logLevel: string;
}

export function addBusOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--nats-url <urls>', 'NATS server(s), comma-separated').env('NATS_URL').default('nats://127.0.0.1:4222'))
    .addOption(new Option('--nats-user <user>', 'NATS user (see nats.conf for the roles)').env('NATS_USER'))
    .addOption(new Option('--nats-password <password>', 'NATS password').env('NATS_PASSWORD'))
    .addOption(new Option('--log-level <level>', 'pino log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).env('LOG_LEVEL').default('info'));
}

/** `<prefix>-<8 hex>`: a process id that is also a valid subject token. */
export function randomId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
