#!/usr/bin/env node
// Before `npm start` and `npm run sim` (prestart, presim): bin/llm-router.js runs dist/ whenever
// there is one (bin/entry-mode.js), so a dist/ built before the sources last changed is rebuilt
// here first; a developer never runs a stale build without knowing. Development time only: a
// production start never looks at the sources. Dependency-free apart from bin/entry-mode.js.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { entryMode, staleSource } from '../bin/entry-mode.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (entryMode(root).from === 'dist') {
  const changed = staleSource(root);
  if (changed) {
    process.stderr.write(`[build] dist/ is older than ${changed}: rebuilding it (npm run build); delete dist/ or set LLMR_FROM_SOURCE=1 to run the sources instead\n`);
    const r = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) {
      process.stderr.write('[build] npm run build failed (see above): fix it, or delete dist/ to run the sources\n');
      process.exit(1);
    }
  }
}
