// A benchmark's measuring child process (a load generator, a stream holder), both sides. The
// child (`runChild`) reads its JSON config from argv[2], never outlives the orchestrator that
// spawned it nor its own time budget, and prints its result as one `RESULT <json>` line; the
// parent (`runTool`) starts it, pinned when asked, and parses that line.
import { spawn } from 'node:child_process';
import { basename, resolve } from 'node:path';
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

export interface ToolOptions {
  /** taskset CPU list to pin the child to (null: unpinned). */
  readonly cpus: string | null;
  /** SIGKILL the child after this long. */
  readonly timeoutS: number;
  readonly cwd: string;
  /** A JSON.parse reviver for the result. */
  readonly reviver?: (key: string, value: unknown) => unknown;
}

/** Runs `file` (a module that calls `runChild`) with `cfg` in a child process and returns its result. */
export async function runTool<T>(file: string, cfg: object, o: ToolOptions): Promise<T> {
  const args = ['--import', 'tsx', file, JSON.stringify(cfg)];
  const [cmd, argv] = o.cpus ? ['taskset', ['-c', o.cpus, process.execPath, ...args]] : [process.execPath, args];
  // stderr is the child's progress, for the operator to see.
  const child = spawn(cmd, argv, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutS * 1000);
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  await new Promise<void>((r) => child.once('exit', () => r()));
  clearTimeout(timer);
  process.removeListener('exit', killOnExit);
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`${basename(file)} failed (exit ${child.exitCode ?? child.signalCode}): ${out.slice(-2000)}`);
  return JSON.parse(line.slice('RESULT '.length), o.reviver) as T;
}
