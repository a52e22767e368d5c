import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dilated, kvTransferMs, PROFILES, stepDurationMs } from '../../sim/profiles.ts';

test('profiles - a dilated engine is k times slower in every duration', () => {
  const p = PROFILES['deepseek-v3-tp8-h200'];
  const shapes = [
    { prefillTokens: 0, decodeSeqs: 1, contextTokens: 1000, attentionPairs: 0 },
    { prefillTokens: 4096, decodeSeqs: 32, contextTokens: 60_000, attentionPairs: 4096 * 2048 },
  ];
  for (const k of [0.5, 2, 8]) {
    const d = dilated(p, k);
    for (const s of shapes) assert.ok(Math.abs(stepDurationMs(d, s) - k * stepDurationMs(p, s)) < 1e-9);
    assert.ok(Math.abs(kvTransferMs(d, 1000) - k * kvTransferMs(p, 1000)) < 1e-9);
    assert.equal(d.frontendMs, k * p.frontendMs);
    assert.equal(d.numGpuBlocks, p.numGpuBlocks, 'capacity is not time');
  }
  assert.equal(dilated(p, 1), p);
  assert.throws(() => dilated(p, 0), RangeError);
});
