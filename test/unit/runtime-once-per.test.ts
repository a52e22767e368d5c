// Once per key per window, with a bounded memory of keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OncePer } from '../../runtime/once-per.ts';

test('once per - a key is first again only after the window', () => {
  const o = new OncePer(1000, 10);
  assert.equal(o.first('a', 0), true);
  assert.equal(o.first('a', 999), false);
  assert.equal(o.first('b', 999), true);
  assert.equal(o.first('a', 1000), true);
});

test('once per - memory stays bounded: the oldest keys are forgotten', () => {
  const o = new OncePer(60_000, 3);
  for (const k of ['a', 'b', 'c', 'd']) assert.equal(o.first(k, 0), true);
  assert.equal(o.first('a', 1), true, 'a was forgotten');
  assert.equal(o.first('d', 1), false);
});
