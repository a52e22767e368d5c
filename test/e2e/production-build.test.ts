// Production runs the build alone. In a copy of the project built with `npm run build`, whose
// node_modules then holds only what `npm ci --omit=dev` installs (package-lock.json's packages
// not marked `dev`; tsx is one of those left out), `llm-router` answers and a process starts and
// serves: nothing on its path imports tsx or another development dependency. Before that, in the
// same copy: `npm start`'s build check rebuilds a dist/ older than the sources.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, unlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { staleSource } from '../../bin/entry-mode.js';
import { freePortRange } from '../../runtime/net.ts';
import { packageRoot } from '../../runtime/package-root.ts';
import { copyProject } from '../helpers/project-copy.ts';

const ROOT = packageRoot(import.meta.url);
const SHARED = join(ROOT, 'node_modules');

/**
 * node_modules of links into this checkout's installed packages (nothing is installed or copied),
 * leaving out the top-level names `skip` holds. Scopes (`@x/`) are real directories of links.
 */
function linkModules(to: string, skip: ReadonlySet<string>): void {
  const dir = join(to, 'node_modules');
  mkdirSync(dir);
  for (const e of readdirSync(SHARED)) {
    if (e.startsWith('@')) {
      mkdirSync(join(dir, e));
      for (const p of readdirSync(join(SHARED, e))) if (!skip.has(`${e}/${p}`)) symlinkSync(join(SHARED, e, p), join(dir, e, p));
    } else if (!skip.has(e)) symlinkSync(join(SHARED, e), join(dir, e));
  }
}

/** Removes the links only (never what they point to), then the directories. */
function unlinkModules(to: string): void {
  const dir = join(to, 'node_modules');
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (lstatSync(p).isSymbolicLink()) unlinkSync(p);
    else {
      for (const c of readdirSync(p)) unlinkSync(join(p, c));
      rmdirSync(p);
    }
  }
  rmdirSync(dir);
}

/** What `npm ci --omit=dev` leaves out: the lock's packages marked dev (top-level ones; nested ones live inside those). */
function devOnly(): Set<string> {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const out = new Set<string>(['.bin']);
  for (const [path, p] of Object.entries(lock.packages)) {
    const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(path);
    if (m && p.dev) out.add(m[1]!);
  }
  return out;
}

function run(cwd: string, cmd: string, args: string[], env: Record<string, string> = {}): { status: number | null; out: string } {
  const base = { ...process.env };
  delete base.LLMR_FROM_SOURCE;
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...base, ...env } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('production - the build runs without the development dependencies', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llmr-prod-'));
    copyProject(ROOT, dir);
    linkModules(dir, new Set());
  });
  after(() => {
    if (!dir) return;
    unlinkModules(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  test('production - npm run build, then the check before npm start rebuilds a dist/ older than the sources', () => {
    const b = run(dir, 'npm', ['run', 'build']);
    assert.equal(b.status, 0, b.out);
    assert.equal(staleSource(dir), null);
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(dir, 'cli', 'main.ts'), later, later);
    assert.equal(staleSource(dir), join('cli', 'main.ts'));
    const c = run(dir, process.execPath, ['scripts/check-build.mjs']);
    assert.equal(c.status, 0, c.out);
    assert.match(c.out, /dist\/ is older than cli\/main\.ts: rebuilding/);
    // The rebuild's stamp is from now, before the source's future time: move the source back.
    utimesSync(join(dir, 'cli', 'main.ts'), new Date(), new Date(Date.now() - 60_000));
    assert.equal(staleSource(dir), null);
  });

  test('production - without tsx and the other dev dependencies, llm-router answers and a process serves', async (t) => {
    assert.ok(existsSync(join(dir, 'dist', 'cli', 'main.js')), 'built by the test before');
    unlinkModules(dir);
    const skipped = devOnly();
    assert.ok(skipped.has('tsx') && skipped.has('typescript'), 'tsx and typescript are development dependencies');
    linkModules(dir, skipped);
    // The copy really cannot load tsx (so nothing below could have used it).
    const probe = run(dir, process.execPath, ['--input-type=module', '-e', "await import('tsx/esm/api')"]);
    assert.notEqual(probe.status, 0);
    assert.match(probe.out, /ERR_MODULE_NOT_FOUND|Cannot find package 'tsx'/);

    const help = run(dir, process.execPath, ['bin/llm-router.js', '--help']);
    assert.equal(help.status, 0, help.out);
    for (const c of ['dev', 'ingress', 'scheduler', 'agent', 'discover-zmq', 'sim']) assert.match(help.out, new RegExp(`\\b${c}\\b`));
    const sched = run(dir, process.execPath, ['bin/llm-router.js', 'scheduler', '--help']);
    assert.equal(sched.status, 0, sched.out);

    const port = await freePortRange(1, 19_000);
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
    delete env.LLMR_FROM_SOURCE;
    const sim = spawn(process.execPath, ['bin/llm-router.js', 'sim', '--workers', '1', '--base-port', String(port)], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    sim.stdout.on('data', (d: Buffer) => (out += d.toString()));
    sim.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => sim.once('exit', () => r()));
    t.after(async () => {
      sim.kill('SIGKILL');
      await exited;
    });
    const deadline = Date.now() + 30_000;
    while (!/^sim: http/m.test(out)) {
      assert.equal(sim.exitCode, null, `the simulator exited:\n${out}`);
      assert.ok(Date.now() < deadline, `the simulator did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const models = await fetch(`http://127.0.0.1:${port}/v1/models`);
    assert.equal(models.status, 200);
    await models.arrayBuffer();
    sim.kill('SIGTERM');
    await exited;
  });

  test('production - asked to run the sources without tsx, llm-router says what to do', () => {
    const r = run(dir, process.execPath, ['bin/llm-router.js', '--help'], { LLMR_FROM_SOURCE: '1' });
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /npm run build/);
  });
});
