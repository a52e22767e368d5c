#!/usr/bin/env node
// Makes a fresh clone runnable before `npm start` and `npm test` (prestart / pretest): installs
// the dependencies when they are missing or older than the lock file, and nats-server when it
// is missing (Debian/Ubuntu packages when root, Homebrew on macOS); otherwise says exactly what
// to run. Dependency-free on purpose: it runs before anything is installed.
//   node scripts/setup.mjs start   nats-server is optional (a NATS already answering will do)
//   node scripts/setup.mjs test    nats-server is required (every suite spawns its own)
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const purpose = process.argv[2] === 'test' ? 'test' : 'start';
const say = (line) => process.stderr.write(`[setup] ${line}\n`);

function run(cmd, args) {
  say(`running: ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  return r.status === 0;
}

function onPath(bin, extra = []) {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...extra]) if (dir && existsSync(join(dir, bin))) return join(dir, bin);
  return null;
}

// 1. Node.js itself.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 18)) {
  say(`Node.js ${process.versions.node} is too old: install Node.js 20.18 or newer (https://nodejs.org).`);
  process.exit(1);
}

// 2. Dependencies: npm writes node_modules/.package-lock.json on every install.
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  say(existsSync(installed) ? 'dependencies are older than package-lock.json: reinstalling' : 'dependencies are not installed: installing');
  if (!run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['ci', '--no-audit', '--no-fund'])) {
    say('npm ci failed: see above, then run `npm ci` yourself.');
    process.exit(1);
  }
}

// 3. nats-server.
const natsBin = (process.env.NATS_SERVER_BIN && existsSync(process.env.NATS_SERVER_BIN)) || onPath('nats-server', ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin']);
if (!natsBin) {
  const root_ = typeof process.getuid === 'function' && process.getuid() === 0;
  let ok = false;
  if (process.platform === 'linux' && root_ && onPath('apt-get')) {
    run('apt-get', ['update', '-qq']); // a stale index may still have the package
    ok = run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'nats-server']);
  } else if (process.platform === 'darwin' && onPath('brew')) {
    ok = run('brew', ['install', 'nats-server']);
  }
  if (!ok) {
    const how =
      process.platform === 'darwin'
        ? 'brew install nats-server'
        : onPath('apt-get')
          ? 'sudo apt-get install nats-server'
          : 'install nats-server from https://github.com/nats-io/nats-server/releases and put it on PATH (or set NATS_SERVER_BIN)';
    if (purpose === 'test') {
      say(`nats-server is not installed and the tests need it: ${how}`);
      process.exit(1);
    }
    say(`nats-server is not installed: \`npm start\` will need a NATS server already listening at NATS_URL, or run: ${how}`);
  }
}
