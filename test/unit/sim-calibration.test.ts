// The simulator's cost model stays calibrated: a reduced calibration (bench/calibrate/measure.ts) runs the
// engine under a VirtualClock and the key figures must stay inside their published or derived ranges
// (bench/calibrate/CALIBRATION.md). Simulated time only; nothing here depends on how fast the machine is.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closedLoop, measureDecode, measurePrefill, measureTtft, replayDocsSample } from '../../bench/calibrate/measure.ts';
import { PROFILES } from '../../sim/profiles.ts';

function within(v: number, lo: number, hi: number, what: string): void {
  assert.ok(v >= lo && v <= hi, `${what}: ${v.toFixed(2)} not within ${lo}–${hi}`);
}

describe('sim calibration: llama-3.1-8b-h100', () => {
  const p = PROFILES['llama-3.1-8b-h100'];

  it('decode ITL at batch 1 is 6–9 ms (derived 6–7 ms, vLLM docs sample 7.7 ms)', () => {
    const d = measureDecode(p, 1, { decodeTokens: 64 });
    within(d.itlMs, 6, 9, 'ITL @ 1');
  });

  it('decode ITL follows the derived table at larger batches, without preemption', () => {
    const ranges: [number, number, number][] = [
      [16, 7, 10],
      [64, 10, 20],
      [128, 13, 34],
      [256, 20, 60],
    ];
    let prev = 0;
    for (const [bs, lo, hi] of ranges) {
      const d = measureDecode(p, bs, { decodeTokens: 32 });
      within(d.itlMs, lo, hi, `ITL @ ${bs}`);
      assert.equal(d.preemptions, 0);
      assert.ok(d.itlMs > prev, 'ITL grows with the batch');
      assert.ok(d.outputTokPerS > 0);
      prev = d.itlMs;
    }
  });

  it('prefill throughput is within 20–40 K tok/s (derived 25–37 K)', () => {
    within(measurePrefill(p, 1024, 32).promptTokPerS, 20_000, 40_000, 'prefill, 1 K prompts');
    within(measurePrefill(p, 4096, 8).promptTokPerS, 20_000, 40_000, 'prefill, 4 K prompts');
  });

  it('idle TTFT grows with the prompt and includes the frontend', () => {
    const t128 = measureTtft(p, 128);
    const t4k = measureTtft(p, 4096);
    assert.ok(t128 >= p.frontendMs + p.stepOverheadMs);
    within(t128, 5, 30, 'TTFT @ 128');
    within(t4k, 100, 250, 'TTFT @ 4096');
  });

  it('the vLLM docs sample run replays within 10 % on ITL/TPOT', () => {
    const r = replayDocsSample(p);
    within(r.itlMs, 7.74 * 0.9, 7.74 * 1.1, 'docs sample ITL');
    within(r.tpotMs, 7.91 * 0.9, 7.91 * 1.1, 'docs sample TPOT');
  });

  it('is deterministic', () => {
    assert.deepEqual(measureDecode(p, 16, { decodeTokens: 16 }), measureDecode(p, 16, { decodeTokens: 16 }));
  });
});

describe('sim calibration: deepseek-v3-tp8-h200', () => {
  const p = PROFILES['deepseek-v3-tp8-h200'];

  it('decode ITL at batch 1 is 20–40 ms (25–35 ms low load; 31 ms on 16x H100)', () => {
    within(measureDecode(p, 1, { decodeTokens: 32 }).itlMs, 20, 40, 'ITL @ 1');
  });

  it('TTFT at 128 tokens is about 0.2 s', () => {
    within(measureTtft(p, 128), 150, 250, 'TTFT @ 128');
  });

  it('saturated closed loop: mean ITL 100–300 ms and 5–20 K total tok/s', () => {
    const l = closedLoop(p, { concurrency: 256, promptLen: 1000, outputLen: 1000, warmupS: 90, windowS: 60 });
    within(l.itlMs, 100, 300, 'closed-loop ITL');
    within(l.totalTokPerS, 5_000, 20_000, 'closed-loop total tok/s');
    assert.ok(l.itlMixedStepsMs > l.itlMs, 'steps carrying a prefill chunk stretch decode ITL');
  });
});
