// Runs scenarios one after the other: each writes bench/results/<name>.json and its charts, and a
// full (not --quick) run regenerates its section of bench/RESULTS.md. Measuring only some systems
// keeps the others from the last result when it was measured the same way.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupNow, installCleanupHooks } from '../lib/procs.ts';
import { SYSTEMS, type ScenarioDef, type SystemDef } from './definitions.ts';
import { comparable, runScenario, type ScenarioResult } from './run.ts';
import { scenarioMarkdown } from './table.ts';

export interface SuiteOptions {
  readonly root: string;
  readonly scenarios: readonly ScenarioDef[];
  readonly systems: readonly SystemDef[];
  /** A smoke test: writes bench/results/quick/ and leaves RESULTS.md alone. */
  readonly quick: boolean;
  readonly seed: number;
}

const log = (s: string): void => void process.stdout.write(`bench: ${s}\n`);

/** Replaces (or appends) the section between this scenario's markers in bench/RESULTS.md. */
function updateResults(root: string, name: string, md: string): void {
  const file = join(root, 'bench', 'RESULTS.md');
  const text = readFileSync(file, 'utf8');
  const begin = `<!-- scenario:${name}:begin -->`;
  const end = `<!-- scenario:${name}:end -->`;
  const block = `${begin}\n${md}\n${end}`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  writeFileSync(file, i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${block}\n`);
}

export async function runSuite(o: SuiteOptions): Promise<void> {
  const { root, quick } = o;
  installCleanupHooks();
  try {
    for (const s of o.scenarios) {
      const started = Date.now();
      const out = quick ? join('bench', 'results', 'quick') : join('bench', 'results');
      // Measuring some systems only: the others are kept from the last result, if it was measured the same way.
      let mergeWith: ScenarioResult | null = null;
      const previous = join(root, out, `${s.name}.json`);
      if (o.systems.length < SYSTEMS.length && existsSync(previous)) {
        const earlier = JSON.parse(readFileSync(previous, 'utf8')) as ScenarioResult;
        if (comparable(earlier, s, quick)) mergeWith = earlier;
        else log(`${previous} was measured differently: the systems not run now are left out`);
      }
      const res = await runScenario(s, { root, quick, outDir: join(root, out), seed: o.seed, log, systems: o.systems, mergeWith });
      const md = scenarioMarkdown(res);
      process.stdout.write(`\n${md}\n\n`);
      if (!quick) updateResults(root, s.name, md);
      log(`${s.name} done in ${((Date.now() - started) / 1000).toFixed(0)} s; wrote ${out}/${s.name}.json, charts in ${out}/${s.name}/${quick ? '' : ', bench/RESULTS.md'}`);
    }
  } finally {
    cleanupNow();
  }
}
