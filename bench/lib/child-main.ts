// The entry of a benchmark's measuring child process (a load generator, a stream holder): it
// reads its JSON config from argv[2], never outlives the orchestrator that spawned it nor its
// own time budget, and prints its result as one `RESULT <json>` line for the parent to parse.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Whether the module at `url` is the process's entry point (run directly, not imported). */
export function isMain(url: string): boolean {
  return process.argv[1] !== undefined && fileURLToPath(url) === resolve(process.argv[1]);
}

export async function runChild<C, R>(budgetS: (cfg: C) => number, run: (cfg: C) => Promise<R>): Promise<never> {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(3);
  }, 1000).unref();
  const cfg = JSON.parse(process.argv[2] ?? '') as C;
  setTimeout(() => process.exit(4), (budgetS(cfg) + 60) * 1000).unref();
  const r = await run(cfg);
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
  process.exit(0);
}
