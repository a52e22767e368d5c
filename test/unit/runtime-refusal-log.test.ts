import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RefusalLog } from '../../runtime/refusal-log.ts';

describe('refusal log', () => {
  test('refusal log - once per reason and source per window, with what was left out', () => {
    const l = new RefusalLog(60_000);
    assert.equal(l.note('source', '10.0.0.1', 0).log, true);
    for (let i = 1; i <= 99; i++) assert.equal(l.note('source', '10.0.0.1', i * 100).log, false);
    assert.equal(l.note('source', '10.0.0.2', 0).log, true, 'another source');
    assert.equal(l.note('address', '10.0.0.1', 0).log, true, 'another reason');
    assert.deepEqual(l.note('source', '10.0.0.1', 60_000), { log: true, suppressed: 99, source: '10.0.0.1' });
  });

  test('refusal log - the table is bounded: past it, new sources share one line per reason', () => {
    const l = new RefusalLog(60_000, 3);
    for (const s of ['a', 'b', 'c']) assert.equal(l.note('malformed', s, 0).log, true);
    assert.deepEqual(l.note('malformed', 'd', 1), { log: true, suppressed: 0, source: '*' });
    assert.equal(l.note('malformed', 'e', 2).log, false);
    // Once the window has passed, old entries make room again.
    assert.deepEqual(l.note('malformed', 'f', 60_001), { log: true, suppressed: 0, source: 'f' });
  });
});
