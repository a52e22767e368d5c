// `npm run bench -- <scenario> [--quick]`: the announcement's comparison on simulated fleets
// (bench/scenarios, run by scenarios/suite.ts), or the router-overhead benchmark
// (`npm run bench -- overhead [its options]`: every argument but the word `overhead` goes to
// bench/overhead/run.ts, which parses them, --help included), or the Node.js floor
// (`npm run bench -- floor [its options]`, bench/floor/floor.ts, likewise), or overload
// (`npm run bench -- overload [its options]`, bench/overload/run.ts, likewise).
// Writes bench/results/ and regenerates this scenario's section of bench/RESULTS.md; a --quick
// run (a smoke test) writes bench/results/quick/ and leaves RESULTS.md alone. `--systems a,b`
// measures only those systems and keeps the others from the last result when it was measured the
// same way.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Argument, InvalidArgumentError } from 'commander';
import { benchCommand, integer, passOn } from './lib/command.ts';
import { SCENARIOS, SYSTEMS } from './scenarios/definitions.ts';
import { runSuite } from './scenarios/suite.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SYSTEM_NAMES = SYSTEMS.map((s) => s.name);

function systemList(value: string): string[] {
  const names = value.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !SYSTEM_NAMES.includes(n));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown system ${unknown.join(', ')} (one of ${SYSTEM_NAMES.join(', ')})`);
  return names;
}

// The overhead, floor and overload benchmarks have options of their own: hand them all on before parsing ours.
for (const [word, script] of [
  ['overhead', join('overhead', 'run.ts')],
  ['floor', join('floor', 'floor.ts')],
  ['overload', join('overload', 'run.ts')],
] as const) {
  const args = passOn(process.argv.slice(2), word, ['--systems', '--seed']);
  if (args === null) continue;
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', script), ...args], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const program = benchCommand('bench', 'the comparison on simulated fleets (a scenario, or all), or the router-overhead benchmark')
  .addArgument(
    new Argument('[scenario]', 'what to run (overhead has options of its own: `npm run bench -- overhead --help`)').choices([...SCENARIOS.map((s) => s.name), 'all', 'overhead', 'floor', 'overload']),
  )
  .option('--quick', 'a smoke test: short points, results in bench/results/quick/, RESULTS.md untouched', false)
  .option('--systems <a,b>', 'measure only these systems (the others are kept from the last comparable result)', systemList)
  .option('--seed <n>', 'seed of the workloads', integer(Number.MIN_SAFE_INTEGER), 1)
  .parse(process.argv);
const which = program.processedArgs[0] as string | undefined;
const flags = program.opts<{ quick: boolean; systems?: string[]; seed: number }>();

if (which === undefined || which === 'overhead' || which === 'floor' || which === 'overload') {
  // (overhead was handed on above, unless an option's value came first: show how to call it.)
  program.outputHelp();
} else {
  await runSuite({
    root: ROOT,
    scenarios: which === 'all' ? SCENARIOS : SCENARIOS.filter((s) => s.name === which),
    systems: flags.systems ? SYSTEMS.filter((s) => flags.systems!.includes(s.name)) : SYSTEMS,
    quick: flags.quick,
    seed: flags.seed,
  });
}
