// The project as a fresh clone of it has it, in a directory of the test's: the files git tracks
// and the new ones it does not ignore (no node_modules, no dist), with uncommitted edits.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function copyProject(root: string, to: string): void {
  const r = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const f of r.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(root, f))) continue; // deleted but not yet committed
    mkdirSync(dirname(join(to, f)), { recursive: true });
    cpSync(join(root, f), join(to, f));
  }
}
