// Keeps the README's error table and proto/errors.ts in step, as fastify's errors test keeps its
// docs honest: a code missing from the table, listed but gone, or listed with another status fails.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_DEFS, ERROR_CODES } from '../../proto/errors.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const rows = new Map<string, number>();
for (const m of readme.matchAll(/^\| `(LLMR_ERR_[A-Z0-9_]+)` \| (\d{3}) \|/gm)) rows.set(m[1]!, Number(m[2]));

test('readme errors - every code is in the README table', () => {
  const missing = ERROR_CODES.filter((c) => !rows.has(c));
  assert.deepEqual(missing, []);
});

test('readme errors - the README lists no code that does not exist', () => {
  const stale = [...rows.keys()].filter((c) => !(c in ERROR_DEFS));
  assert.deepEqual(stale, []);
});

test("readme errors - the README states each code's status", () => {
  for (const c of ERROR_CODES) assert.equal(rows.get(c), ERROR_DEFS[c].status, c);
});
