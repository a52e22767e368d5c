import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeTime, isValid } from 'ulid';
import { newId } from '../../runtime/ids.ts';

test('ids are valid ulids, unique and increasing, stamped with the current time', () => {
  const before = Date.now();
  const ids = Array.from({ length: 20_000 }, () => newId());
  const after = Date.now();
  assert.equal(new Set(ids).size, ids.length);
  for (let i = 0; i < ids.length; i++) {
    assert.ok(isValid(ids[i]!), ids[i]);
    if (i > 0) assert.ok(ids[i]! > ids[i - 1]!, `${ids[i]} after ${ids[i - 1]}`);
  }
  assert.ok(decodeTime(ids[0]!) >= before && decodeTime(ids.at(-1)!) <= after);
});

test('the random part spreads over all 32 symbols (the pooled bytes are used uniformly)', async () => {
  // Only the first id of each millisecond draws new randomness; sample across milliseconds.
  const counts = new Map<string, number>();
  for (let i = 0; i < 40; i++) {
    for (const ch of newId().slice(10, 25)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.equal(counts.size, 32, `symbols seen: ${[...counts.keys()].sort().join('')}`);
});
