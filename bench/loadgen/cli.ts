// Command line in the manner of `vllm bench serve` (vllm-protocol.md §5.1): runs one benchmark,
// prints the result table, and with --result-dir writes the JSON `--save-result` would.
//
//   node --import tsx bench/loadgen/cli.ts --base-url http://127.0.0.1:8100 \
//     --workload shared_prefix --request-rate 20 --num-prompts 500 --result-dir bench/results/loadgen
//
// Flag names follow vLLM where it has the concept (random-*, prefix-repetition-*, request-rate,
// burstiness, max-concurrency, num-prompts, num-warmups, seed, result-dir, save-detailed,
// metadata); multi-turn flags are ours (mt-*). Everything is validated before any request is sent.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { formatReport, resultFileName, resultJson } from './report.ts';
import { resolveRunSpec, runLoad, type ResolvedRunSpec, type RunSpec } from './run.ts';
import { createSource, WORKLOAD_KINDS, type WorkloadInput, type WorkloadKind } from './workloads.ts';

export const USAGE = `Usage: node --import tsx bench/loadgen/cli.ts --base-url URL [options]

Target:
  --base-url URL                       origin of a vLLM server or router (e.g. http://127.0.0.1:8000)
  --model NAME                         model to request (default: the first of GET /v1/models)
  --workload random|multi_turn|shared_prefix   (default random)
  --endpoint completions|chat          route for random and shared_prefix (default completions)

random (vLLM's defaults):
  --random-input-len N (1024)  --random-output-len N (128)  --random-range-ratio R (0)  --random-prefix-len N (0)
shared_prefix (vLLM's prefix_repetition):
  --prefix-repetition-prefix-len N (256)  --prefix-repetition-suffix-len N (256)
  --prefix-repetition-num-prefixes N (10)  --prefix-repetition-output-len N (128)
multi_turn (chat; every turn resends the history with the server's answers, x-session-id header):
  --mt-sessions S (8)  --mt-turns T (5)  --mt-system-len N (256)  --mt-user-len N (64)
  --mt-output-len N (64)  --mt-range-ratio R (0)  --mt-shared-system
  The arrival process governs turns: a due request goes to the session waiting longest; a
  session's next turn is sent only after its previous answer.

Load (as vllm bench serve):
  --request-rate R|inf (inf)  --burstiness B (1 = Poisson)  --max-concurrency N
  --num-prompts N (1000 unless --duration-s)  --duration-s S  --num-warmups N (0)
  --warmup-s S (0: seconds of unmeasured arrivals at the same rate before the window)
  --seed N (0)  --request-timeout-s S (120)  --request-id-prefix P (bench-)

Output:
  --result-dir DIR  --result-filename NAME  --save-detailed  --metadata KEY=VALUE (repeatable)
  -h, --help`;

const OPTIONS = {
  'base-url': { type: 'string' },
  model: { type: 'string' },
  workload: { type: 'string', default: 'random' },
  endpoint: { type: 'string' },
  'random-input-len': { type: 'string' },
  'random-output-len': { type: 'string' },
  'random-range-ratio': { type: 'string' },
  'random-prefix-len': { type: 'string' },
  'prefix-repetition-prefix-len': { type: 'string' },
  'prefix-repetition-suffix-len': { type: 'string' },
  'prefix-repetition-num-prefixes': { type: 'string' },
  'prefix-repetition-output-len': { type: 'string' },
  'mt-sessions': { type: 'string' },
  'mt-turns': { type: 'string' },
  'mt-system-len': { type: 'string' },
  'mt-user-len': { type: 'string' },
  'mt-output-len': { type: 'string' },
  'mt-range-ratio': { type: 'string' },
  'mt-shared-system': { type: 'boolean' },
  'request-rate': { type: 'string' },
  burstiness: { type: 'string' },
  'max-concurrency': { type: 'string' },
  'num-prompts': { type: 'string' },
  'duration-s': { type: 'string' },
  'num-warmups': { type: 'string' },
  'warmup-s': { type: 'string' },
  seed: { type: 'string' },
  'request-timeout-s': { type: 'string' },
  'request-id-prefix': { type: 'string' },
  'result-dir': { type: 'string' },
  'result-filename': { type: 'string' },
  'save-detailed': { type: 'boolean' },
  metadata: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

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
export function parseCli(argv: readonly string[]): CliOptions | null {
  let v;
  try {
    v = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (v.help) return null;
  const num = (flag: keyof typeof OPTIONS, opts: { inf?: boolean } = {}): number | undefined => {
    const s = v[flag] as string | undefined;
    if (s === undefined) return undefined;
    if (opts.inf && /^inf(inity)?$/i.test(s)) return Number.POSITIVE_INFINITY;
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} must be a number, got "${s}"`);
    return n;
  };
  if (!v['base-url']) throw new UsageError('--base-url is required');
  const kind = v.workload as WorkloadKind;
  if (!WORKLOAD_KINDS.includes(kind)) throw new UsageError(`--workload must be one of ${WORKLOAD_KINDS.join(', ')}, got "${v.workload}"`);
  const endpoint = v.endpoint;
  if (endpoint !== undefined && endpoint !== 'chat' && endpoint !== 'completions') throw new UsageError(`--endpoint must be completions or chat, got "${endpoint}"`);
  if (endpoint !== undefined && kind === 'multi_turn') throw new UsageError('--endpoint does not apply to multi_turn (always chat)');

  const fields: Record<string, unknown> = { kind };
  const set = (key: string, value: unknown): void => {
    if (value !== undefined) fields[key] = value;
  };
  const foreign = (prefix: string): void => {
    const wrong = Object.keys(v).filter((k) => k.startsWith(prefix) && v[k as keyof typeof v] !== undefined);
    if (wrong.length > 0) throw new UsageError(`--${wrong[0]} does not apply to --workload ${kind}`);
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
    set('sharedSystemPrompt', v['mt-shared-system'] === true ? true : undefined);
  }

  const metadata: Record<string, string> = {};
  for (const kv of v.metadata ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`--metadata must be KEY=VALUE, got "${kv}"`);
    metadata[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const optional = <T>(key: string, value: T | undefined): Record<string, T> => (value === undefined ? {} : { [key]: value });
  const run: RunSpec = {
    baseUrl: v['base-url'],
    model: v.model ?? '',
    workload: fields as unknown as WorkloadInput,
    ...optional('seed', num('seed')),
    ...optional('requestRate', num('request-rate', { inf: true })),
    ...optional('burstiness', num('burstiness')),
    ...optional('maxConcurrency', num('max-concurrency')),
    ...optional('numPrompts', num('num-prompts')),
    ...optional('durationS', num('duration-s')),
    ...optional('numWarmups', num('num-warmups')),
    ...optional('warmupS', num('warmup-s')),
    ...optional('requestTimeoutS', num('request-timeout-s')),
    ...optional('requestIdPrefix', v['request-id-prefix']),
    keepText: v['save-detailed'] === true,
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
    resultDir: v['result-dir'] ?? null,
    resultFilename: v['result-filename'] ?? null,
    saveDetailed: v['save-detailed'] === true,
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
    process.stderr.write(`${e.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (opts === null) {
    process.stdout.write(`${USAGE}\n`);
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

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
}
