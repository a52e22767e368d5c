import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { IdSchema, isSubjectId } from '../../proto/id.ts';

const schema = TypeCompiler.Compile(IdSchema);

const CASES: [string, boolean][] = [
  ['w-1', true],
  ['A_b-9', true],
  ['x'.repeat(128), true],
  ['', false],
  ['x'.repeat(129), false],
  ['a.b', false],
  ['a b', false],
  ['a*', false],
  ['a>', false],
  ['é', false],
  ['a\n', false],
];
for (const [id, ok] of CASES) {
  test(`id - ${JSON.stringify(id.length > 20 ? `${id.slice(0, 8)}…(${id.length})` : id)} is ${ok ? '' : 'not '}an id, by the pattern and by the schema`, () => {
    assert.equal(isSubjectId(id), ok);
    assert.equal(schema.Check(id), ok);
  });
}
