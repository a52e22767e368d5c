// Every coded error in proto/errors.ts is brought about by some test, as fastify's test suite
// checks that each of its error codes is exercised: a code that no test file names is a failure
// path nobody has seen work. A new code needs a test that causes it (through the real stack
// where possible), and a spent code leaves the table.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ERROR_CODES } from '../../proto/errors.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const self = fileURLToPath(import.meta.url);
const files = (readdirSync(root, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `${root}${f}`)
  .filter((f) => f !== self);
const sources = files.map((f) => readFileSync(f, 'utf8'));

test('error codes tested - the test files are found', () => {
  assert.ok(files.length > 10, `found ${files.length} test files under ${root}`);
});

test('error codes tested - every code in ERROR_DEFS appears in some test other than this one', () => {
  // A whole word: LLMR_ERR_INVALID_REQUEST must not count as tested through LLMR_ERR_INVALID_REQUEST_ID.
  const untested = ERROR_CODES.filter((code) => !sources.some((s) => new RegExp(`\\b${code}\\b`).test(s)));
  assert.deepEqual(untested, [], 'codes no test causes: write a test that brings each about');
});
