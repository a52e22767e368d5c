// What a new user does first, on a copy of the project without node_modules: `npm start` alone
// installs what it needs and brings the local stack up to /readiness; after `npm run build`,
// `npm start` runs the build and comes up as well.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packageRoot } from '../../runtime/package-root.ts';
import { copyProject } from '../helpers/project-copy.ts';
import { freePortRange } from '../../runtime/net.ts';

const ROOT = packageRoot(import.meta.url);

function npm(cwd: string, args: string[]): ChildProcess & { output: () => string } {
  const child = spawn('npm', args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn', NATS_URL: '' } });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-20_000)));
  child.stderr!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-20_000)));
  return Object.assign(child, { output: () => out });
}

/** Stops `npm start` and everything it started (its process group); resolves once npm has exited. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined) return;
  const pid = child.pid;
  const kill = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone
    }
  };
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    kill('SIGINT');
    const t = setTimeout(() => kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }
  // Whatever of the group outlived npm (nothing, when the dev stack stopped its children).
  kill('SIGKILL');
}

async function readiness(port: number, child: ChildProcess & { output: () => string }, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${child.output()}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readiness`);
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no /readiness 200 within ${timeoutMs} ms:\n${child.output()}`);
}

describe('first run - a fresh copy of the project', () => {
  let dir: string;
  const running: ChildProcess[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llmr-first-run-'));
    copyProject(ROOT, dir);
  });
  after(async () => {
    for (const c of running) await stopGroup(c);
    rmSync(dir, { recursive: true, force: true });
  });

  const startAndCheck = async (): Promise<void> => {
    const [port] = [await freePortRange(1, 18_000)];
    const natsPort = await freePortRange(1, 24_222);
    const child = npm(dir, ['start', '--', '--port', String(port), '--nats-url', `nats://127.0.0.1:${natsPort}`]);
    running.push(child);
    // Installing the dependencies is most of the first run (the npm cache makes it a few seconds).
    await readiness(port, child, 240_000);
    const r = await fetch(`http://127.0.0.1:${port}/v1/models`);
    assert.equal(r.status, 200);
    assert.ok(((await r.json()) as { data: unknown[] }).data.length >= 1);
    await stopGroup(child);
  };

  test('first run - npm start alone installs the dependencies and reaches /readiness', async () => {
    assert.equal(existsSync(join(dir, 'node_modules')), false);
    await startAndCheck();
    assert.equal(existsSync(join(dir, 'node_modules', '.package-lock.json')), true, 'npm start installed the dependencies');
  });

  test('first run - after npm run build, npm start runs the build and reaches /readiness', async () => {
    const b = spawnSync('npm', ['run', 'build'], { cwd: dir, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stdout + b.stderr);
    assert.equal(existsSync(join(dir, 'dist', 'cli', 'main.js')), true);
    await startAndCheck();
  });
});
