// The capacity benchmark's options: defaults in one frozen object, the command line (commander)
// that sets them, validated before anything starts.
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option } from 'commander';
import { PROFILE_NAMES, type ProfileName } from '../../sim/profiles.ts';
import { atLeast, benchCommand, collect, wholeAtLeast } from '../lib/command.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Options {
  readonly workers: number;
  readonly streams: number;
  readonly seconds: number;
  readonly warmup: number;
  readonly maxTokens: number;
  readonly promptTokens: number;
  readonly profile: ProfileName;
  readonly simCore: number;
  readonly clientCore: number;
  readonly cpuProf: string | null;
  /** Extra node flags for the simulator process (e.g. --max-semi-space-size=32, --trace-gc). */
  readonly simNodeArgs: readonly string[];
  /** Append the simulator's stdout and stderr to this file. */
  readonly simLog: string | null;
  readonly out: string;
  readonly tolerancePct: number;
}

export const DEFAULTS: Options = Object.freeze({
  workers: 16,
  streams: 500,
  seconds: 20,
  warmup: 5,
  maxTokens: 256,
  promptTokens: 128,
  profile: 'llama-3.1-8b-h100',
  simCore: 0,
  clientCore: 1,
  cpuProf: null,
  simNodeArgs: Object.freeze([]),
  simLog: null,
  out: join(ROOT, 'bench', 'results', 'sim-capacity.json'),
  tolerancePct: 5,
});

interface Flags {
  workers: number;
  streams: number;
  seconds: number;
  warmup: number;
  maxTokens: number;
  promptTokens: number;
  profile: ProfileName;
  simCore: number;
  clientCore: number;
  cpuProf?: string;
  simNodeArg: string[];
  simLog?: string;
  out: string;
  tolerance: number;
}

/** Options from the command line (argv without node and the script); exits on --help or a usage error. */
export function parseOptions(argv: readonly string[]): Options {
  const d = DEFAULTS;
  const f = benchCommand(
    'capacity',
    'ONE `llm-router sim` process pinned to one core keeps --streams concurrent streams going; PASS when the client-measured and the simulator-reported mean ITL are within --tolerance % of the cost model',
  )
    .addOption(new Option('--workers <n>', 'simulated workers in the one sim process').argParser(wholeAtLeast(1)).default(d.workers))
    .addOption(new Option('--streams <n>', 'streams kept open (ignore_eos, a new request as soon as one ends)').argParser(wholeAtLeast(1)).default(d.streams))
    .addOption(new Option('--seconds <s>', 'measured window').argParser(atLeast(1)).default(d.seconds))
    .addOption(new Option('--warmup <s>', 'warm-up before the window').argParser(atLeast(0)).default(d.warmup))
    .addOption(new Option('--max-tokens <n>', 'max_tokens of each request').argParser(wholeAtLeast(2)).default(d.maxTokens))
    .addOption(new Option('--prompt-tokens <n>', 'prompt length in tokens').argParser(wholeAtLeast(1)).default(d.promptTokens))
    .addOption(new Option('--profile <name>', 'simulated engine').choices(PROFILE_NAMES).default(d.profile))
    .addOption(new Option('--sim-core <n>', 'CPU the simulator is pinned to').argParser(wholeAtLeast(0)).default(d.simCore))
    .addOption(new Option('--client-core <n>', 'CPU the load client (and this process) is pinned to').argParser(wholeAtLeast(0)).default(d.clientCore))
    .addOption(new Option('--cpu-prof <dir>', "write the simulator's CPU profile (--cpu-prof) into this directory"))
    .addOption(new Option('--sim-node-arg <flag>', 'an extra node flag for the simulator (repeatable)').argParser(collect).default([]))
    .addOption(new Option('--sim-log <file>', "append the simulator's output to this file"))
    .addOption(new Option('--tolerance <pct>', 'largest deviation from the cost model that passes, in %').argParser(atLeast(0)).default(d.tolerancePct))
    .addOption(new Option('--out <file>', 'the JSON report').default(d.out))
    .parse([...argv], { from: 'user' })
    .opts<Flags>();
  return {
    workers: f.workers,
    streams: f.streams,
    seconds: f.seconds,
    warmup: f.warmup,
    maxTokens: f.maxTokens,
    promptTokens: f.promptTokens,
    profile: f.profile,
    simCore: f.simCore,
    clientCore: f.clientCore,
    cpuProf: f.cpuProf === undefined ? null : resolve(f.cpuProf),
    simNodeArgs: f.simNodeArg,
    simLog: f.simLog === undefined ? null : resolve(f.simLog),
    out: resolve(f.out),
    tolerancePct: f.tolerance,
  };
}
