// Options every bus-connected command shares: where NATS is, TLS to it and who we are on it, and
// logging. The bus flags are checked before the command runs (natsOptions), so that a missing
// file or two ways of authenticating stop the process with the flag named, before any I/O.
import { randomBytes } from 'node:crypto';
import { Option, type Command } from 'commander';
import { natsOptions } from './nats-options.ts';

export interface BusFlags {
  natsUrl: string;
  natsUser?: string;
  natsPassword?: string;
  natsPasswordFile?: string;
  natsCreds?: string;
  natsNkeySeedFile?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  logLevel: string;
}

export function addBusOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--nats-url <urls>', 'NATS server(s), comma-separated; tls://… asks for TLS').env('NATS_URL').default('nats://127.0.0.1:4222'))
    .addOption(new Option('--nats-user <user>', 'NATS user (see nats.conf for the roles)').env('NATS_USER'))
    .addOption(new Option('--nats-password <password>', 'NATS password (a flag shows in ps: prefer the variable or --nats-password-file)').env('NATS_PASSWORD'))
    .addOption(new Option('--nats-password-file <file>', 'file holding the NATS password').env('NATS_PASSWORD_FILE'))
    .addOption(new Option('--nats-creds <file>', 'NATS .creds file (user JWT and nkey seed), instead of a user and password').env('NATS_CREDS'))
    .addOption(new Option('--nats-nkey-seed-file <file>', "file holding an nkey user's seed (SU…), instead of a user and password").env('NATS_NKEY_SEED_FILE'))
    .addOption(new Option('--nats-tls-ca <file>', "CA certificate(s), PEM, that sign the NATS server's certificate; asks for TLS").env('NATS_TLS_CA'))
    .addOption(new Option('--nats-tls-cert <file>', 'client certificate, PEM, for a server that verifies clients (with --nats-tls-key); asks for TLS').env('NATS_TLS_CERT'))
    .addOption(new Option('--nats-tls-key <file>', "the client certificate's private key, PEM").env('NATS_TLS_KEY'))
    .addOption(new Option('--log-level <level>', 'pino log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).env('LOG_LEVEL').default('info'))
    .hook('preAction', (command) => {
      try {
        natsOptions(command.opts<BusFlags>(), { name: command.name(), inboxPrefix: '_INBOX' });
      } catch (e) {
        command.error(`error: ${(e as Error).message}`);
      }
    });
}

/** `<prefix>-<8 hex>`: a process id that is also a valid subject token. */
export function randomId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
