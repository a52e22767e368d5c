// bin/entry-mode.js: which code bin/llm-router.js runs (one rule, no look at the sources), and
// the development-time question of whether dist/ is older than the sources.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { entryMode, staleSource } from '../../bin/entry-mode.js';

/** A project tree: tsconfig.build.json, cli/main.ts, and a build when `built`. */
function project(built: boolean): string {
  const root = mkdtempSync(join(tmpdir(), 'llmr-entry-'));
  writeFileSync(join(root, 'tsconfig.build.json'), JSON.stringify({ include: ['cli', 'sim'] }));
  mkdirSync(join(root, 'cli'));
  writeFileSync(join(root, 'cli', 'main.ts'), '');
  if (built) {
    mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
    writeFileSync(join(root, 'dist', 'cli', 'main.js'), '');
    writeFileSync(join(root, 'dist', '.build-stamp'), '');
  }
  return root;
}

const roots: string[] = [];
const make = (built: boolean): string => {
  const r = project(built);
  roots.push(r);
  return r;
};
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

describe('entry mode - what bin/llm-router.js runs', () => {
  const cases: [string, boolean, Record<string, string>, 'dist' | 'source'][] = [
    ['a build and no override runs the build', true, {}, 'dist'],
    ['LLMR_FROM_SOURCE=1 runs the sources even with a build', true, { LLMR_FROM_SOURCE: '1' }, 'source'],
    ['any other LLMR_FROM_SOURCE value leaves the build', true, { LLMR_FROM_SOURCE: '0' }, 'dist'],
    ['no build runs the sources', false, {}, 'source'],
  ];
  for (const [name, built, env, from] of cases) test(`entry mode - ${name}`, () => assert.equal(entryMode(make(built), env).from, from));
});

describe('entry mode - a build older than the sources (development time)', () => {
  test('entry mode - a source changed after the build is named', () => {
    const root = make(true);
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'cli', 'main.ts'), later, later);
    assert.equal(staleSource(root), join('cli', 'main.ts'));
  });

  test('entry mode - a build newer than every source is current, and no build is never stale', () => {
    const root = make(true);
    const earlier = new Date(Date.now() - 60_000);
    utimesSync(join(root, 'cli', 'main.ts'), earlier, earlier);
    assert.equal(staleSource(root), null);
    assert.equal(staleSource(make(false)), null);
  });
});
