// `node --import tsx bench/micro/histogram.ts`: what one histogram observation costs on the token
// path, prom-client's Histogram.observe(labels, v) against the bucket arrays of
// runtime/bucket-histogram.ts (the series looked up per observation, as IngressMetrics.chunkGap
// does, or held for the request). Prints a table and writes bench/results/micro-histogram.json.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Histogram, Registry } from 'prom-client';
import { BucketHistogram } from '../../runtime/bucket-histogram.ts';
import { benchCommand, wholeAtLeast } from '../lib/command.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ITL = [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2.5];
const ROUTES = ['/v1/chat/completions', '/v1/completions'];
const MODELS = ['llama-3.1-8b', 'qwen-2.5-7b', 'mistral-7b', 'deepseek-v3'];

const o = benchCommand('micro-histogram', 'ns per histogram observation: prom-client against bucket arrays')
  .option('--observations <n>', 'observations timed per case', wholeAtLeast(10_000), 2_000_000)
  .option('--rounds <n>', 'rounds per case (the best is kept)', wholeAtLeast(1), 5)
  .parse()
  .opts<{ observations: number; rounds: number }>();

// Gaps of a few milliseconds, as inter-token latencies are, spread over the buckets.
const values = Float64Array.from({ length: 4096 }, (_, i) => 0.002 * (1 + ((i * 7919) % 97) / 10));
const mask = values.length - 1;

/** ns per call of `observe(i)`, the best of the rounds (after a warm-up round). */
function nsPer(observe: (i: number) => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round <= o.rounds; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < o.observations; i++) observe(i);
    const ns = Number(process.hrtime.bigint() - t0) / o.observations;
    if (round > 0) best = Math.min(best, ns);
  }
  return best;
}

const config = { name: 'llm_router_itl_seconds', help: 'bench', labelNames: ['route', 'model'], buckets: ITL };
const theirs = new Histogram({ ...config, registers: [new Registry()] });
const ours = new BucketHistogram({ ...config, registers: [new Registry()] });
const held = ROUTES.flatMap((r) => MODELS.map((m) => ours.series(r, m)));

// Eight series, taken in turn: a busy ingress streams several models at once.
const rows = [
  { case: 'prom-client observe({ route, model }, v)', ns: nsPer((i) => theirs.observe({ route: ROUTES[i & 1] as string, model: MODELS[(i >> 1) & 3] as string }, values[i & mask] as number)) },
  { case: 'bucket array, series(route, model).observe(v)', ns: nsPer((i) => ours.series(ROUTES[i & 1] as string, MODELS[(i >> 1) & 3] as string).observe(values[i & mask] as number)) },
  { case: 'bucket array, series held, observe(v)', ns: nsPer((i) => (held[i & 7] as ReturnType<typeof ours.series>).observe(values[i & mask] as number)) },
].map((r) => ({ ...r, ns: +r.ns.toFixed(1) }));

process.stdout.write(`| case | ns per observation |\n|---|---|\n`);
for (const r of rows) process.stdout.write(`| ${r.case} | ${r.ns} |\n`);
const out = join(ROOT, 'bench', 'results', 'micro-histogram.json');
writeFileSync(out, `${JSON.stringify({ node: process.version, observations: o.observations, rounds: o.rounds, buckets: ITL.length, series: held.length, rows }, null, 2)}\n`);
process.stdout.write(`wrote ${out}\n`);
