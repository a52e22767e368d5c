// Which code bin/llm-router.js runs. One rule, read by bin/llm-router.js at each start and by
// the development tools that must agree with it (scripts/check-build.mjs, bench/lib/router.ts):
//
//   LLMR_FROM_SOURCE=1            the TypeScript sources, through tsx (a development dependency)
//   else dist/cli/main.js exists  the compiled build (`npm run build`); tsx is never loaded
//   else                          the TypeScript sources, through tsx
//
// A start costs one existsSync. Whether dist/ is older than the sources is a development-time
// question (`staleSource`), asked before `npm start` and `npm run sim` (which rebuild a stale
// dist/) and by the benchmarks (which report it), never by a production start.
// Plain JavaScript with no dependencies: it runs before tsx is (or is not) loaded.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The build's entry point, relative to the project root. */
export const BUILD_ENTRY = join('dist', 'cli', 'main.js');

/** @returns {{ from: 'dist' | 'source', why: string }} */
export function entryMode(root, env = process.env) {
  if (env.LLMR_FROM_SOURCE === '1') return { from: 'source', why: 'LLMR_FROM_SOURCE=1' };
  if (existsSync(join(root, BUILD_ENTRY))) return { from: 'dist', why: `${BUILD_ENTRY} exists` };
  return { from: 'source', why: 'no dist/ build' };
}

/** When the build finished: `npm run build` writes dist/.build-stamp last. */
function builtAt(root) {
  for (const f of [join(root, 'dist', '.build-stamp'), join(root, BUILD_ENTRY)]) if (existsSync(f)) return statSync(f).mtimeMs;
  return null;
}

function newerIn(dir, than) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const hit = newerIn(p, than);
      if (hit) return hit;
    } else if (e.name.endsWith('.ts') && statSync(p).mtimeMs > than) return p;
  }
  return null;
}

/**
 * Development time only: a source file changed since dist/ was built (relative to `root`), or
 * null when there is no build or it is current. The sources are the folders the build compiles
 * (tsconfig.build.json's `include`).
 */
export function staleSource(root) {
  const built = builtAt(root);
  if (built === null) return null;
  const { include } = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8'));
  for (const dir of include) {
    const hit = existsSync(join(root, dir)) ? newerIn(join(root, dir), built) : null;
    if (hit) return relative(root, hit);
  }
  return null;
}
