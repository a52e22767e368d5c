// Where the nats-server binary is, for the commands and tools that start one (dev stack, tests,
// benchmarks): $NATS_SERVER_BIN, then PATH, then the sbin dirs Debian installs it in (often not
// on a user's PATH).
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export function findNatsServer(): string | null {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin']) {
    if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  return null;
}
