// The chaos benchmark's options: defaults in one frozen object and the command line that sets them.
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option } from 'commander';
import { benchCommand, integer, positive } from '../lib/command.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ChaosOptions {
  readonly minutes: number;
  /** Seeds the load and the fault plan: the same seed gives the same faults at the same times. */
  readonly seed: number;
  /** Clients keeping a request each in flight. */
  readonly concurrency: number;
  /** Simulated workers (at least 2: faults hit one at a time, the others serve). */
  readonly workers: number;
  /** Where the JSON result goes. */
  readonly json: string;
  /** Log level of the router's processes. */
  readonly logLevel: string;
}

export const DEFAULTS: ChaosOptions = Object.freeze({
  minutes: 1,
  seed: 7,
  concurrency: 16,
  workers: 4,
  json: join(ROOT, 'bench', 'results', 'chaos.json'),
  logLevel: 'warn',
});

/** Options from the command line (argv without node and the script); exits on --help or a usage error. */
export function parseOptions(argv: readonly string[]): ChaosOptions {
  const d = DEFAULTS;
  const f = benchCommand('chaos', 'steady load on a simulated fleet (2 ingresses, 2 schedulers) while workers, a scheduler and the bus fail; PASS when nothing hung or was lost')
    .addOption(new Option('--minutes <n>', 'length of the run').argParser(positive).default(d.minutes))
    .addOption(new Option('--seed <n>', 'seed of the load and the fault plan').argParser(integer(Number.MIN_SAFE_INTEGER)).default(d.seed))
    .addOption(new Option('--concurrency <n>', 'clients, one request in flight each').argParser(integer(1)).default(d.concurrency))
    .addOption(new Option('--workers <n>', 'simulated workers (at least 2)').argParser(integer(2)).default(d.workers))
    .addOption(new Option('--json <file>', 'the JSON result').default(d.json))
    .addOption(new Option('--log-level <level>', "log level of the router's processes").default(d.logLevel))
    .parse([...argv], { from: 'user' })
    .opts<ChaosOptions>();
  return { minutes: f.minutes, seed: f.seed, concurrency: f.concurrency, workers: f.workers, json: resolve(f.json), logLevel: f.logLevel };
}
