// `npm run bench -- overload [options]`: what each system makes of demand beyond the fleet. The
// fleet's capacity is measured first (a closed loop straight to the workers with every sequence
// slot busy); then each system gets open-loop Poisson arrivals at 0.5× to 5× that, and every
// request is followed to its end. Goodput counts whole answers whose first token came within
// the SLO. Results are written after each point, and a rerun with the same options resumes: an
// interrupted run loses one point, not all.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Option } from 'commander';
import { atLeast, benchCommand, positiveList, wholeAtLeast, integer } from '../lib/command.ts';
import { cleanupNow, installCleanupHooks } from '../lib/procs.ts';
import { substream } from '../lib/prng.ts';
import { createAgent, sendRequest } from '../loadgen/client.ts';
import { createSource, resolveWorkload, type RequestSource } from '../loadgen/workloads.ts';
import { ROOT } from '../overhead/options.ts';
import { startSim, waitIdle } from '../overhead/sim.ts';
import { runPoint, summarizePoint } from './point.ts';
import { charts, table, verdicts, type OverloadPoint } from './report.ts';
import { admissionArgs, startSystem, SYSTEMS, type SystemName } from './systems.ts';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

installCleanupHooks();
const o = benchCommand('overload', 'goodput, refusals and admitted TTFT from 0.5× to 5× the fleet’s capacity: the router with admission, without, and nginx')
  .addOption(new Option('--workers <n>', 'simulated workers').argParser(wholeAtLeast(1)).default(2))
  .addOption(new Option('--max-num-seqs <n>', "each worker's running-batch limit").argParser(wholeAtLeast(1)).default(8))
  .addOption(new Option('--input-len <n>', 'prompt tokens').argParser(wholeAtLeast(1)).default(256))
  .addOption(new Option('--output-len <n>', 'output tokens (ignore_eos)').argParser(wholeAtLeast(1)).default(64))
  .addOption(new Option('--multiples <list>', 'offered load, as multiples of the measured capacity').argParser(positiveList).default([0.5, 1, 1.5, 2, 3, 5]))
  .addOption(new Option('--seconds <s>', 'arrivals per point').argParser(atLeast(1)).default(15))
  .addOption(new Option('--slo-ttft-ms <ms>', 'a request counts toward goodput when its first token came within this').argParser(wholeAtLeast(1)).default(1000))
  .addOption(new Option('--timeout-ms <ms>', "a client's patience: past it the request counts as failed").argParser(wholeAtLeast(1)).default(30_000))
  .addOption(new Option('--systems <list>', 'systems to measure').default([...SYSTEMS]).argParser((v) => v.split(',') as SystemName[]))
  .addOption(new Option('--seed <n>', 'seed of the arrivals and prompts').argParser(integer(0)).default(1))
  .addOption(new Option('--out <file>', 'results JSON (Markdown and charts are written next to it)').default(join(ROOT, 'bench', 'results', 'overload.json')))
  .parse(process.argv)
  .opts<{
    workers: number;
    maxNumSeqs: number;
    inputLen: number;
    outputLen: number;
    multiples: number[];
    seconds: number;
    sloTtftMs: number;
    timeoutMs: number;
    systems: SystemName[];
    seed: number;
    out: string;
  }>();
for (const s of o.systems) if (!(SYSTEMS as readonly string[]).includes(s)) throw new Error(`unknown system ${s} (one of ${SYSTEMS.join(', ')})`);

const log = (s: string): void => void process.stderr.write(`[overload] ${s}\n`);
const fleet = { workers: o.workers, maxNumSeqs: o.maxNumSeqs, sloMs: o.sloTtftMs };
const workload = resolveWorkload({ kind: 'random', route: 'completions', inputLen: o.inputLen, outputLen: o.outputLen });
const source = (label: string): RequestSource => createSource(workload, { model: MODEL, seed: Math.floor(substream(o.seed, label)() * 2 ** 31) });
/** What must match for an earlier result file to be resumed. */
const setup = { workers: o.workers, maxNumSeqs: o.maxNumSeqs, inputLen: o.inputLen, outputLen: o.outputLen, seconds: o.seconds, sloTtftMs: o.sloTtftMs, timeoutMs: o.timeoutMs, seed: o.seed };

interface Saved {
  readonly setup: typeof setup;
  capacity: number | null;
  points: OverloadPoint[];
}
const saved: Saved = (() => {
  if (!existsSync(o.out)) return { setup, capacity: null, points: [] };
  const prev = JSON.parse(readFileSync(o.out, 'utf8')) as Saved;
  if (JSON.stringify(prev.setup) !== JSON.stringify(setup)) return { setup, capacity: null, points: [] };
  log(`resuming ${o.out}: ${prev.points.length} points already measured`);
  return prev;
})();
const save = (): void => {
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(saved, null, 2)}\n`);
};

const sim = await startSim({ root: ROOT, workers: o.workers, profile: 'llama-3.1-8b-h100', cpus: null, env: {}, extra: ['--max-num-seqs', String(o.maxNumSeqs)] });
const dispatcher = createAgent(null);

/** Requests per second the fleet completes with every sequence slot busy, straight to the workers. */
async function measureCapacity(): Promise<number> {
  const src = source('capacity');
  const slots = o.workers * o.maxNumSeqs;
  const warmUntil = performance.now() + 3000;
  const until = warmUntil + 12_000;
  let done = 0;
  await Promise.all(
    Array.from({ length: slots }, async (_, i) => {
      while (performance.now() < until) {
        const item = src.next();
        if (!item) break;
        const r = await sendRequest(dispatcher, sim.urls[i % sim.urls.length]!, item, { timeoutMs: o.timeoutMs });
        const end = performance.now();
        if (r.ok && end > warmUntil && end <= until) done++;
      }
    }),
  );
  await waitIdle(sim);
  return done / 12;
}

if (saved.capacity === null) {
  saved.capacity = await measureCapacity();
  save();
}
const capacity = saved.capacity;
log(`fleet: ${o.workers} workers × ${o.maxNumSeqs} sequences; capacity ${capacity.toFixed(1)} req/s (${o.inputLen} in, ${o.outputLen} out)`);

for (const name of o.systems) {
  const todo = o.multiples.filter((m) => !saved.points.some((p) => p.system === name && p.multiple === m));
  if (todo.length === 0) continue;
  const sys = await startSystem(name, ROOT, MODEL, sim.urls, fleet, log);
  try {
    for (const multiple of todo) {
      const rate = multiple * capacity;
      const results = await runPoint({ url: sys.url, rate, seconds: o.seconds, seed: o.seed, timeoutMs: o.timeoutMs, source: source(`${name}-${multiple}`), dispatcher });
      const summary = summarizePoint(results, o.seconds, o.sloTtftMs);
      saved.points.push({ system: name, multiple, offeredRate: rate, summary });
      save();
      log(
        `${name} at ${multiple}× (${rate.toFixed(1)} req/s): goodput ${summary.goodput.toFixed(1)}/s, refused ${summary.shed}, failed ${summary.failed}, TTFT p99 ${summary.ttftP99Ms.toFixed(0)} ms`,
      );
      await waitIdle(sim, 120_000);
    }
  } finally {
    await sys.stop();
  }
}

const v = verdicts(saved.points, o.sloTtftMs);
const svg = await charts(saved.points, o.sloTtftMs);
const base = o.out.replace(/\.json$/, '');
writeFileSync(`${base}-goodput.svg`, svg.goodput);
writeFileSync(`${base}-ttft.svg`, svg.ttft);
const md = [
  '# Overload: goodput from 0.5× to 5× the fleet’s capacity',
  '',
  `${new Date().toISOString()} · Node ${process.version} · \`npm run bench -- overload\` · seed ${o.seed}`,
  '',
  `Fleet: ${o.workers} simulated Llama 3.1 8B workers (H100 cost model), max_num_seqs ${o.maxNumSeqs}; requests of ${o.inputLen} prompt and ${o.outputLen} output tokens, streamed; measured capacity ${capacity.toFixed(1)} req/s (a closed loop with every sequence slot busy, straight to the workers). Each point: Poisson arrivals for ${o.seconds} s at the offered rate, every request followed to its end (client timeout ${o.timeoutMs / 1000} s). Goodput: whole answers whose first token came within ${o.sloTtftMs} ms, per second. router-admission runs the ingress with \`${admissionArgs(fleet).join(' ')}\` and the schedulers' defaults (holding requests while every worker is saturated, the retry budget); router-open with admission, holding and the retry budget off; nginx round robin as the overhead benchmark configures it. Both router arms use round_robin.`,
  '',
  ...table(saved.points),
  '',
  '| Target | Measured | Verdict |',
  '|---|---|---|',
  ...v.map((x) => `| ${x.goal} | ${x.measured} | ${x.pass === null ? 'NOT MEASURED' : x.pass ? 'PASS' : 'FAIL'} |`),
  '',
  `![goodput](${base.split('/').pop()}-goodput.svg)`,
  '',
  `![ttft](${base.split('/').pop()}-ttft.svg)`,
  '',
].join('\n');
writeFileSync(`${base}.md`, md);
process.stdout.write(md);
cleanupNow();
process.exit(0);
