// Router processes as real children (`node bin/llm-router.js …`), for tests that kill them
// with signals. Output is kept for failure messages; every child is killed when the test ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

const BIN = fileURLToPath(new URL('../../bin/llm-router.js', import.meta.url));

export interface RouterProcess {
  readonly proc: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves with the exit code (or signal) once it exits. */
  readonly exited: Promise<number | NodeJS.Signals>;
  kill(signal?: NodeJS.Signals): void;
}

export function spawnRouter(t: Pick<TestContext, 'after'>, args: string[], env: Record<string, string> = {}): RouterProcess {
  // LLMR_FROM_SOURCE=1: the tests test the sources, whatever an earlier `npm run build` left in dist/.
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'info', LLMR_FROM_SOURCE: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  proc.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  const exited = new Promise<number | NodeJS.Signals>((resolve) => proc.once('exit', (code, signal) => resolve(signal ?? code ?? 0)));
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  return { proc, output: () => out, exited, kill: (signal = 'SIGTERM') => void proc.kill(signal) };
}

/** Waits until the process prints a line matching `re`. */
export async function waitForOutput(p: RouterProcess, re: RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!re.test(p.output())) {
    if (p.proc.exitCode !== null) throw new Error(`process exited before printing ${re}:\n${p.output()}`);
    if (Date.now() > deadline) throw new Error(`no ${re} within ${timeoutMs} ms:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
