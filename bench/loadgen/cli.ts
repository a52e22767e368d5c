// Command line in the manner of `vllm bench serve` (vLLM's docs/benchmarking/cli.md): runs one benchmark,
// prints the result table, and with --result-dir writes the JSON `--save-result` would.
//
//   node --import tsx bench/loadgen/cli.ts --base-url http://127.0.0.1:8100 \
//     --workload shared_prefix --request-rate 20 --num-prompts 500 --result-dir bench/results/loadgen
//
// Flag names follow vLLM where it has the concept (random-*, prefix-repetition-*, request-rate,
// burstiness, max-concurrency, num-prompts, num-warmups, seed, result-dir, save-detailed,
// metadata); multi-turn flags are ours (mt-*). Everything is validated before any request is sent.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { request } from 'undici';
import { isMain } from '../lib/child-main.ts';
import { collect } from '../lib/command.ts';
import { formatReport, resultFileName, resultJson } from './report.ts';
import { resolveRunSpec, runLoad, type ResolvedRunSpec, type RunSpec } from './run.ts';
import { createSource, WORKLOAD_KINDS, type WorkloadInput, type WorkloadKind } from './workloads.ts';

/** The command line, on commander; parseCli and the help both build it. */
function loadgenCommand(): Command {
  const n = (flags: string, help: string): Option => new Option(flags, help).argParser(numberOf(flags.split(' ')[0]!));
  const cmd = new Command('loadgen').description('one benchmark run in the manner of `vllm bench serve`: prints the result table, and with --result-dir writes the JSON `--save-result` would');
  cmd.optionsGroup('Target:');
  cmd.addOption(new Option('--base-url <url>', 'origin of a vLLM server or router (e.g. http://127.0.0.1:8000)'));
  cmd.addOption(new Option('--model <name>', 'model to request (default: the first of GET /v1/models)'));
  cmd.addOption(new Option('--workload <kind>', 'request source').choices(WORKLOAD_KINDS).default('random'));
  cmd.addOption(new Option('--endpoint <route>', 'route for random and shared_prefix (default completions)').choices(['completions', 'chat']));
  cmd.optionsGroup("random (vLLM's defaults):");
  cmd.addOption(n('--random-input-len <n>', 'prompt tokens (1024)'));
  cmd.addOption(n('--random-output-len <n>', 'output tokens (128)'));
  cmd.addOption(n('--random-range-ratio <r>', 'lengths vary by ± this fraction (0)'));
  cmd.addOption(n('--random-prefix-len <n>', 'a shared prefix of this many tokens (0)'));
  cmd.optionsGroup("shared_prefix (vLLM's prefix_repetition):");
  cmd.addOption(n('--prefix-repetition-prefix-len <n>', 'prefix tokens (256)'));
  cmd.addOption(n('--prefix-repetition-suffix-len <n>', 'suffix tokens (256)'));
  cmd.addOption(n('--prefix-repetition-num-prefixes <n>', 'distinct prefixes (10)'));
  cmd.addOption(n('--prefix-repetition-output-len <n>', 'output tokens (128)'));
  cmd.optionsGroup("multi_turn (chat; every turn resends the history with the server's answers, x-session-id header):");
  cmd.addOption(n('--mt-sessions <s>', 'sessions (8)'));
  cmd.addOption(n('--mt-turns <t>', 'turns per session (5)'));
  cmd.addOption(n('--mt-system-len <n>', 'system prompt tokens (256)'));
  cmd.addOption(n('--mt-user-len <n>', 'user turn tokens (64)'));
  cmd.addOption(n('--mt-output-len <n>', 'output tokens per turn (64)'));
  cmd.addOption(n('--mt-range-ratio <r>', 'lengths vary by ± this fraction (0)'));
  cmd.addOption(new Option('--mt-shared-system', 'every session has the same system prompt'));
  cmd.optionsGroup('Load (as vllm bench serve):');
  cmd.addOption(n('--request-rate <r>', 'requests/s, or inf (inf)'));
  cmd.addOption(n('--burstiness <b>', 'Gamma shape of the gaps (1 = Poisson)'));
  cmd.addOption(n('--max-concurrency <n>', 'requests in flight at most'));
  cmd.addOption(n('--num-prompts <n>', 'measured requests (1000 unless --duration-s)'));
  cmd.addOption(n('--duration-s <s>', 'measure for this long instead'));
  cmd.addOption(n('--num-warmups <n>', 'unmeasured requests first (0)'));
  cmd.addOption(n('--warmup-s <s>', 'seconds of unmeasured arrivals at the same rate before the window (0)'));
  cmd.addOption(n('--seed <n>', 'seed of the prompts and arrivals (0)'));
  cmd.addOption(n('--request-timeout-s <s>', 'a request fails after this long (120)'));
  cmd.addOption(new Option('--request-id-prefix <p>', 'x-request-id prefix (bench-)'));
  cmd.optionsGroup('Output:');
  cmd.addOption(new Option('--result-dir <dir>', 'write the JSON result here'));
  cmd.addOption(new Option('--result-filename <name>', 'its file name (default: from the run)'));
  cmd.addOption(new Option('--save-detailed', 'keep every request in the JSON'));
  cmd.addOption(new Option('--metadata <key=value>', 'recorded in the JSON (repeatable)').argParser(collect));
  cmd.addHelpText(
    'after',
    `
The arrival process governs multi_turn turns: a due request goes to the session waiting longest;
a session's next turn is sent only after its previous answer.`,
  );
  return cmd;
}

/** A number flag's value (`inf` for --request-rate); the error names the flag. */
function numberOf(flag: string) {
  return (s: string): number => {
    if (flag === '--request-rate' && /^inf(inity)?$/i.test(s)) return Number.POSITIVE_INFINITY;
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} must be a number, got "${s}"`);
    return n;
  };
}

/** The help text (`--help`). */
export function usage(): string {
  return loadgenCommand().helpInformation();
}

interface Flags {
  baseUrl?: string;
  model?: string;
  workload: WorkloadKind;
  endpoint?: 'completions' | 'chat';
  requestIdPrefix?: string;
  resultDir?: string;
  resultFilename?: string;
  saveDetailed?: boolean;
  mtSharedSystem?: boolean;
  metadata?: string[];
  [numberFlag: string]: number | string | boolean | string[] | undefined;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CliOptions {
  /** The run, with `model` possibly empty (to be discovered). */
  readonly run: RunSpec;
  readonly resultDir: string | null;
  readonly resultFilename: string | null;
  readonly saveDetailed: boolean;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Parses argv (without node and the script); throws UsageError naming the bad flag. Null for --help. */
/** Parses argv (without node and the script); throws UsageError naming the bad flag. Null for --help. */
export function parseCli(argv: readonly string[]): CliOptions | null {
  const cmd = loadgenCommand()
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    if (e.code === 'commander.helpDisplayed') return null;
    throw new UsageError(e.message.replace(/^error: /, ''));
  }
  const v = cmd.opts<Flags>();
  /** A number flag's value by its name (`random-input-len`), undefined when not given. */
  const num = (flag: string): number | undefined => v[flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] as number | undefined;
  if (!v.baseUrl) throw new UsageError('--base-url is required');
  const kind = v.workload;
  const endpoint = v.endpoint;
  if (endpoint !== undefined && kind === 'multi_turn') throw new UsageError('--endpoint does not apply to multi_turn (always chat)');

  const fields: Record<string, unknown> = { kind };
  const set = (key: string, value: unknown): void => {
    if (value !== undefined) fields[key] = value;
  };
  const foreign = (prefix: string): void => {
    const wrong = cmd.options.filter((o) => o.long?.startsWith(`--${prefix}`) && cmd.getOptionValue(o.attributeName()) !== undefined);
    if (wrong.length > 0) throw new UsageError(`${wrong[0]!.long} does not apply to --workload ${kind}`);
  };
  if (kind === 'random') {
    foreign('prefix-repetition-');
    foreign('mt-');
    set('route', endpoint);
    set('inputLen', num('random-input-len'));
    set('outputLen', num('random-output-len'));
    set('rangeRatio', num('random-range-ratio'));
    set('prefixLen', num('random-prefix-len'));
  } else if (kind === 'shared_prefix') {
    foreign('random-');
    foreign('mt-');
    set('route', endpoint);
    set('prefixLen', num('prefix-repetition-prefix-len'));
    set('suffixLen', num('prefix-repetition-suffix-len'));
    set('numPrefixes', num('prefix-repetition-num-prefixes'));
    set('outputLen', num('prefix-repetition-output-len'));
  } else {
    foreign('random-');
    foreign('prefix-repetition-');
    set('sessions', num('mt-sessions'));
    set('turns', num('mt-turns'));
    set('systemPromptLen', num('mt-system-len'));
    set('userTurnLen', num('mt-user-len'));
    set('outputLen', num('mt-output-len'));
    set('rangeRatio', num('mt-range-ratio'));
    set('sharedSystemPrompt', v.mtSharedSystem === true ? true : undefined);
  }

  const metadata: Record<string, string> = {};
  for (const kv of v.metadata ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`--metadata must be KEY=VALUE, got "${kv}"`);
    metadata[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const optional = <T>(key: string, value: T | undefined): Record<string, T> => (value === undefined ? {} : { [key]: value });
  const run: RunSpec = {
    baseUrl: v.baseUrl,
    model: v.model ?? '',
    workload: fields as unknown as WorkloadInput,
    ...optional('seed', num('seed')),
    ...optional('requestRate', num('request-rate')),
    ...optional('burstiness', num('burstiness')),
    ...optional('maxConcurrency', num('max-concurrency')),
    ...optional('numPrompts', num('num-prompts')),
    ...optional('durationS', num('duration-s')),
    ...optional('numWarmups', num('num-warmups')),
    ...optional('warmupS', num('warmup-s')),
    ...optional('requestTimeoutS', num('request-timeout-s')),
    ...optional('requestIdPrefix', v.requestIdPrefix),
    keepText: v.saveDetailed === true,
  };
  // Validate everything now (with a placeholder model when it is still to be discovered).
  try {
    const resolved = resolveRunSpec({ ...run, model: run.model || 'placeholder' });
    createSource(resolved.workload, { model: resolved.model, seed: resolved.seed });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
    run,
    resultDir: v.resultDir ?? null,
    resultFilename: v.resultFilename ?? null,
    saveDetailed: v.saveDetailed === true,
    metadata,
  };
}

/** The first served model, as `vllm bench serve` picks it when --model is absent. */
async function discoverModel(baseUrl: string): Promise<string> {
  const res = await request(new URL('/v1/models', baseUrl), { signal: AbortSignal.timeout(10_000) });
  const body = (await res.body.json()) as { data?: { id?: string }[] };
  const id = body.data?.[0]?.id;
  if (res.statusCode !== 200 || !id) throw new Error(`GET /v1/models on ${baseUrl} gave no model (HTTP ${res.statusCode}); pass --model`);
  return id;
}

export async function main(argv: readonly string[]): Promise<number> {
  let opts: CliOptions | null;
  try {
    opts = parseCli(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n\n${usage()}`);
    return 2;
  }
  if (opts === null) {
    process.stdout.write(usage());
    return 0;
  }
  let model = opts.run.model;
  if (!model) {
    try {
      model = await discoverModel(opts.run.baseUrl);
    } catch (e) {
      process.stderr.write(`cannot find a model to request: ${(e as Error).message}\n`);
      return 1;
    }
  }
  // First Ctrl-C: stop sending and finish what is in flight; second: leave at once.
  const stop = new AbortController();
  const onSigint = (): void => {
    if (stop.signal.aborted) process.exit(130);
    process.stderr.write('stopping: waiting for requests in flight (Ctrl-C again to quit)\n');
    stop.abort();
  };
  process.on('SIGINT', onSigint);
  const spec: ResolvedRunSpec = resolveRunSpec({ ...opts.run, model });
  process.stderr.write(`running ${spec.workload.kind} against ${spec.baseUrl} (${model})…\n`);
  const result = await runLoad({ ...opts.run, model, signal: stop.signal });
  process.off('SIGINT', onSigint);
  process.stdout.write(formatReport(result));
  if (opts.resultDir !== null) {
    await mkdir(opts.resultDir, { recursive: true });
    const path = join(opts.resultDir, opts.resultFilename ?? resultFileName(result));
    await writeFile(path, `${JSON.stringify(resultJson(result, { detailed: opts.saveDetailed, metadata: opts.metadata }), null, 2)}\n`);
    process.stderr.write(`saved ${path}\n`);
  }
  return result.summary.completed > 0 ? 0 : 1;
}

if (isMain(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
