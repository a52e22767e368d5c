// Child processes and temp dirs of one benchmark run: spawned (optionally pinned with taskset),
// tracked, and always cleaned up — on a normal end, on failure, and on Ctrl-C/SIGTERM.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { childPids } from './procfs.ts';

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** The last few KiB the process printed (for failure messages). */
  output(): string;
}

const children = new Set<Child>();
const tempDirs = new Set<string>();
let hooked = false;

/** A process's descendants (children first), from /proc/<pid>/task/<pid>/children. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const c of childPids(pid)) out.push(c, ...descendants(c));
  return out;
}

/**
 * Kills every child — and its own children (nginx's workers outlive a SIGKILLed master) — with
 * SIGKILL, and removes every temp dir; safe to call more than once.
 */
export function cleanupNow(): void {
  for (const c of children) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      for (const pid of [...descendants(c.pid), c.pid]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  }
  children.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

/** Installs the exit and signal hooks that run `cleanupNow` (once per process). */
export function installCleanupHooks(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', cleanupNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nbench: ${sig}: stopping every child process\n`);
      cleanupNow();
      process.exit(130);
    });
  }
}

export function makeTempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

/**
 * A symlink to `file` in a temp dir, to start processes through: Node runs the real file (its
 * imports resolve as usual) while the command line shows the link, so that a broad
 * `pkill -f llm-router` run by some other job on a shared machine spares this run's processes.
 */
export function aliasEntry(file: string): string {
  const link = join(makeTempDir('llmr-bench-bin-'), `bench-${basename(file)}`);
  symlinkSync(file, link);
  return link;
}

export function removeTempDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

export function hasTaskset(): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Pins an already running process (all its threads) to `cpus` (taskset list syntax, e.g. "0" or "0,1"). */
export function pinPid(pid: number, cpus: string): void {
  spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

export interface SpawnOptions {
  /** taskset CPU list, or null for no pinning. */
  readonly cpus?: string | null;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export function startChild(name: string, cmd: string, args: readonly string[], o: SpawnOptions = {}): Child {
  const [file, argv] = o.cpus ? ['taskset', ['-c', o.cpus, cmd, ...args]] : [cmd, [...args]];
  const proc = spawn(file, argv, { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  if (proc.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-8192);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const child: Child = { name, proc, pid: proc.pid, output: () => out };
  children.add(child);
  proc.once('exit', () => children.delete(child));
  return child;
}

export function alive(c: Child): boolean {
  return c.proc.exitCode === null && c.proc.signalCode === null;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopChild(c: Child, graceMs = 5000): Promise<void> {
  if (!alive(c)) return;
  const gone = new Promise<void>((r) => c.proc.once('exit', () => r()));
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(t);
}

export { freePort, freePortRange, tcpAnswers } from '../../runtime/net.ts';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true, or throws after `timeoutMs` with `what` and the child's output. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && !alive(child)) throw new Error(`${child.name} exited (${child.proc.exitCode ?? child.proc.signalCode}) while waiting for ${what}:\n${child.output()}`);
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${child ? `:\n${child.output()}` : ''}`);
}
