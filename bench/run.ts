// `npm run bench -- <scenario> [--quick]`: the announcement's comparison on simulated fleets
// (bench/scenarios), or the router-overhead benchmark (`overhead`). Writes bench/results/ and
// regenerates this scenario's section of bench/RESULTS.md; a --quick run (a smoke test) writes
// bench/results/quick/ and leaves RESULTS.md alone. `--systems a,b` measures only those systems
// and keeps the others from the last result when it was measured the same way.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { cleanupNow, installCleanupHooks } from './lib/procs.ts';
import { SCENARIOS, SYSTEMS } from './scenarios/definitions.ts';
import { comparable, runScenario, type ScenarioResult } from './scenarios/run.ts';
import { scenarioMarkdown } from './scenarios/table.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { quick: { type: 'boolean', default: false }, seed: { type: 'string', default: '1' }, systems: { type: 'string' } },
});
const which = positionals[0] ?? 'help';
const log = (s: string): void => void process.stdout.write(`bench: ${s}\n`);

if (which === 'overhead') {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'overhead', 'run.ts'), ...(values.quick ? ['--quick'] : [])], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const chosen = which === 'all' ? SCENARIOS : SCENARIOS.filter((s) => s.name === which);
if (chosen.length === 0) {
  process.stdout.write(`usage: npm run bench -- <${[...SCENARIOS.map((s) => s.name), 'all', 'overhead'].join('|')}> [--quick] [--systems a,b] [--seed N]\n`);
  process.exit(which === 'help' ? 0 : 2);
}
const systems = values.systems ? SYSTEMS.filter((s) => values.systems!.split(',').includes(s.name)) : SYSTEMS;

/** Replaces (or appends) the section between this scenario's markers in bench/RESULTS.md. */
function updateResults(name: string, md: string): void {
  const file = join(ROOT, 'bench', 'RESULTS.md');
  const text = readFileSync(file, 'utf8');
  const begin = `<!-- scenario:${name}:begin -->`;
  const end = `<!-- scenario:${name}:end -->`;
  const block = `${begin}\n${md}\n${end}`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  writeFileSync(file, i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${block}\n`);
}

installCleanupHooks();
try {
  for (const s of chosen) {
    const started = Date.now();
    const quick = values.quick ?? false;
    const out = quick ? join('bench', 'results', 'quick') : join('bench', 'results');
    // Measuring some systems only: the others are kept from the last result, if it was measured the same way.
    let mergeWith: ScenarioResult | null = null;
    const previous = join(ROOT, out, `${s.name}.json`);
    if (systems.length < SYSTEMS.length && existsSync(previous)) {
      const earlier = JSON.parse(readFileSync(previous, 'utf8')) as ScenarioResult;
      if (comparable(earlier, s, quick)) mergeWith = earlier;
      else log(`${previous} was measured differently: the systems not run now are left out`);
    }
    const res = await runScenario(s, { root: ROOT, quick, outDir: join(ROOT, out), seed: Number(values.seed), log, systems, mergeWith });
    const md = scenarioMarkdown(res);
    process.stdout.write(`\n${md}\n\n`);
    if (!quick) updateResults(s.name, md);
    log(`${s.name} done in ${((Date.now() - started) / 1000).toFixed(0)} s; wrote ${out}/${s.name}.json, charts in ${out}/${s.name}/${quick ? '' : ', bench/RESULTS.md'}`);
  }
} finally {
  cleanupNow();
}
