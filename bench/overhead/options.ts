// The router-overhead benchmark's options: the full run's defaults and the --quick preset in
// frozen objects, and the command line (commander) that sets them. A flag given on the command
// line wins over --quick's preset.
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, Option } from 'commander';
import { atLeast, benchCommand, collect, positiveList, wholeAtLeast } from '../lib/command.ts';
import { ARMS, type Arm } from './verdict.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The simulator profiles this benchmark can run, and the model each serves. */
export const MODELS: Readonly<Record<string, string>> = Object.freeze({ 'llama-3.1-8b-h100': 'meta-llama/Llama-3.1-8B-Instruct', tiny: 'sim-tiny', 'deepseek-v3-tp8-h200': 'deepseek-ai/DeepSeek-V3' });

export const PINS = ['none', 'loadgen', 'split'] as const;
export type Pin = (typeof PINS)[number];

export interface Options {
  quick: boolean;
  rates: number[];
  seconds: number;
  warmup: number;
  drain: number;
  baselineRate: number;
  /** Phase 1b: 1-token streams at this rate through every streaming arm (what a request costs, nearly without tokens). */
  oneToken: boolean;
  oneTokenRate: number;
  sweepRates: number[];
  sweepArms: Arm[];
  /** A system's sweep stops after this many rates in a row that it does not sustain. */
  sweepStopAfter: number;
  sweep: boolean;
  rss: boolean;
  rssStreams: number;
  rssHold: number;
  arms: Arm[];
  workers: number;
  profile: string;
  route: 'completions' | 'chat';
  streamTokens: number;
  sweepTokens: number;
  policy: string;
  pin: Pin;
  poisson: boolean;
  cpuProf: string | null;
  /** Extra node flags for the scheduler and ingress (e.g. --max-semi-space-size=64), to compare runtime settings. */
  routerNodeArgs: string[];
  routerEntry: string | null;
  /** Run the router's processes from the TypeScript sources even when a dist/ build exists. */
  fromSource: boolean;
  /** Re-run a point when other processes used more than this % of one core during its window… */
  maxOther: number;
  /** …up to this many times, after waiting up to this long for the machine to calm down. */
  retries: number;
  quietWaitS: number;
  out: string;
}

export const FULL: Readonly<Options> = Object.freeze({
  quick: false,
  // 100: the CPU-per-event and added-TTFT targets' rate; 1,000: beyond what the machine sustains.
  rates: [100, 300, 1000],
  seconds: 10,
  warmup: 2,
  drain: 15,
  baselineRate: 50,
  oneToken: true,
  oneTokenRate: 300,
  sweepRates: [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000],
  sweepArms: ['direct', 'nginx', 'router'],
  sweepStopAfter: 2,
  sweep: true,
  rss: true,
  rssStreams: 2000,
  rssHold: 10,
  arms: ['direct', 'nginx', 'router'],
  workers: 4,
  profile: 'llama-3.1-8b-h100',
  route: 'completions',
  streamTokens: 64,
  sweepTokens: 16,
  policy: 'round_robin',
  pin: 'loadgen',
  poisson: false,
  cpuProf: null,
  routerNodeArgs: [],
  routerEntry: null,
  fromSource: false,
  maxOther: 25,
  retries: 2,
  quietWaitS: 60,
  out: join(ROOT, 'bench', 'results', 'overhead.json'),
} satisfies Options);

export const QUICK: Readonly<Partial<Options>> = Object.freeze({
  quick: true,
  seconds: 3,
  warmup: 1,
  drain: 5,
  sweepRates: [1000, 2000, 3000, 4000],
  sweepStopAfter: 1,
  rssHold: 4,
  retries: 0,
  // A smoke test never replaces the reported results (as the scenarios' --quick).
  out: join(ROOT, 'bench', 'results', 'quick', 'overhead.json'),
} satisfies Partial<Options>);

/** Systems, comma-separated, in the canonical order. */
function armList(value: string): Arm[] {
  const out = value.split(',').map((x) => x.trim());
  for (const a of out) if (!ARMS.includes(a as Arm)) throw new InvalidArgumentError(`unknown system ${a} (direct, nginx, router)`);
  return ARMS.filter((a) => out.includes(a));
}

/** Options from the command line (argv without node and the script); exits on --help or a usage error. */
export function parseOptions(argv: readonly string[]): Options {
  const d = FULL;
  const q = QUICK;
  const cmd = benchCommand('overhead', 'what nginx and the router add over sending straight to simulated vLLM workers: streaming points, a non-streaming sweep, memory with open streams')
    .option(
      '--quick',
      `a short run (${Object.entries(q)
        .filter(([k]) => k !== 'quick')
        .map(([k, v]) => `${k} ${String(v)}`)
        .join(', ')}; flags given win)`,
      false,
    )
    .addOption(new Option('--rates <list>', 'streaming rates (req/s)').argParser(positiveList).default(d.rates))
    .addOption(new Option('--seconds <s>', 'measured window per point').argParser(atLeast(1)).default(d.seconds))
    .addOption(new Option('--warmup <s>', 'warm-up per point').argParser(atLeast(0)).default(d.warmup))
    .addOption(new Option('--drain <s>', 'longest wait for the requests of a window').argParser(atLeast(1)).default(d.drain))
    .addOption(new Option('--baseline-rate <r>', 'rate of the unloaded baselines (req/s)').argParser(atLeast(1)).default(d.baselineRate))
    .option('--no-one-token', 'skip the 1-token streams')
    .addOption(new Option('--one-token-rate <r>', 'rate of the 1-token streams (req/s)').argParser(atLeast(1)).default(d.oneTokenRate))
    .addOption(new Option('--sweep-rates <list>', 'non-streaming sweep rates (req/s)').argParser(positiveList).default(d.sweepRates))
    .addOption(new Option('--sweep-arms <list>', 'systems swept').argParser(armList).default(d.sweepArms))
    .addOption(new Option('--sweep-stop-after <n>', "a system's sweep stops after this many unsustained rates in a row").argParser(wholeAtLeast(1)).default(d.sweepStopAfter))
    .option('--no-sweep', 'skip the non-streaming sweep')
    .option('--no-rss', 'skip the memory phase')
    .addOption(new Option('--rss-streams <n>', 'streams held open in the memory phase').argParser(wholeAtLeast(1)).default(d.rssStreams))
    .addOption(new Option('--rss-hold <s>', 'how long they are held').argParser(atLeast(1)).default(d.rssHold))
    .addOption(new Option('--arms <list>', 'systems measured in the streaming phase (direct is always one)').argParser(armList).default(d.arms))
    .addOption(new Option('--workers <n>', 'simulated workers').argParser(wholeAtLeast(1)).default(d.workers))
    .addOption(new Option('--profile <name>', 'simulated engine').choices(Object.keys(MODELS)).default(d.profile))
    .addOption(new Option('--route <route>', 'OpenAI route').choices(['completions', 'chat']).default(d.route))
    .addOption(new Option('--stream-tokens <n>', 'max_tokens of a streaming request').argParser(wholeAtLeast(1)).default(d.streamTokens))
    .addOption(new Option('--sweep-tokens <n>', 'max_tokens of a sweep request').argParser(wholeAtLeast(1)).default(d.sweepTokens))
    .addOption(new Option('--policy <type>', "the router's scheduling policy").default(d.policy))
    .addOption(new Option('--pin <plan>', 'what is pinned to which CPUs').choices(PINS).default(d.pin))
    .option('--poisson', 'Poisson arrivals (default: fixed intervals)', d.poisson)
    .addOption(new Option('--cpu-prof <dir>', "write the router processes' CPU profiles into this directory"))
    .addOption(new Option('--router-entry <file>', "start the router's processes from this JS entry instead of bin/llm-router.js"))
    .addOption(new Option('--router-node-arg <flag>', 'an extra node flag for the scheduler and ingress (repeatable)').argParser(collect).default([]))
    .option('--from-source', "run the router's processes from the TypeScript sources (LLMR_FROM_SOURCE=1)", d.fromSource)
    .addOption(new Option('--max-other <pct>', 'run a point again when other work used more than this % of a core').argParser(atLeast(0)).default(d.maxOther))
    .addOption(new Option('--retries <n>', 'how many times at most').argParser(wholeAtLeast(0)).default(d.retries))
    .addOption(new Option('--quiet-wait <s>', 'longest wait for the machine to calm down before a re-run').argParser(atLeast(0)).default(d.quietWaitS))
    .addOption(new Option('--out <file>', 'the JSON report (the Markdown goes beside it)').default(d.out))
    .parse([...argv], { from: 'user' });
  const f = cmd.opts();
  const given = (key: string): boolean => cmd.getOptionValueSource(key) === 'cli';
  const o: Options = {
    ...FULL,
    quick: f.quick,
    rates: f.rates,
    seconds: f.seconds,
    warmup: f.warmup,
    drain: f.drain,
    baselineRate: f.baselineRate,
    oneToken: f.oneToken,
    oneTokenRate: f.oneTokenRate,
    sweepRates: f.sweepRates,
    sweepArms: f.sweepArms,
    sweepStopAfter: f.sweepStopAfter,
    sweep: f.sweep,
    rss: f.rss,
    rssStreams: f.rssStreams,
    rssHold: f.rssHold,
    arms: [...f.arms],
    workers: f.workers,
    profile: f.profile,
    route: f.route,
    streamTokens: f.streamTokens,
    sweepTokens: f.sweepTokens,
    policy: f.policy,
    pin: f.pin,
    poisson: f.poisson,
    cpuProf: f.cpuProf === undefined ? null : resolve(f.cpuProf),
    routerNodeArgs: f.routerNodeArg,
    routerEntry: f.routerEntry === undefined ? null : resolve(f.routerEntry),
    fromSource: f.fromSource,
    maxOther: f.maxOther,
    retries: f.retries,
    quietWaitS: f.quietWait,
    out: resolve(f.out),
  };
  if (f.quick) {
    // The preset fills in what the command line left at its default.
    const flagOf: Partial<Record<keyof Options, string>> = { quietWaitS: 'quietWait' };
    for (const [k, v] of Object.entries(q) as [keyof Options, never][]) if (!given(flagOf[k] ?? k)) o[k] = v;
  }
  if (!o.arms.includes('direct')) o.arms.unshift('direct');
  return o;
}
