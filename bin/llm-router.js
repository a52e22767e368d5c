#!/usr/bin/env node
// Thin entry point. Runs the compiled build (dist/, `npm run build`) when there is one and it is
// newer than every source file; otherwise runs the TypeScript sources as they are (tsx), so a
// stale build never runs by mistake. LLMR_FROM_SOURCE=1 forces the sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.build-stamp');
const SOURCES = ['cli', 'proto', 'runtime', 'ingress', 'scheduler', 'adapters', 'sim'];

function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function buildIsFresh() {
  if (process.env.LLMR_FROM_SOURCE === '1' || !existsSync(stamp)) return false;
  const built = statSync(stamp).mtimeMs;
  return SOURCES.every((d) => !existsSync(join(root, d)) || newestSource(join(root, d)) <= built);
}

let main;
if (buildIsFresh()) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
await main(process.argv);
