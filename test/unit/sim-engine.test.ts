import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { blockHashes, saltOf } from '../../sim/block-hash.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { Engine, type EngineOptions, type FinishOutcome, type FinishReason, type NewRequest, type RemoteKvSource, type TokenEvent } from '../../sim/engine.ts';
import { PROFILES, stepDurationMs, type Profile } from '../../sim/profiles.ts';

const LLAMA = PROFILES['llama-3.1-8b-h100'];
const TINY = PROFILES.tiny;
const BS = 16;

interface Rec {
  readonly id: string;
  addedAt: number;
  readonly tokens: TokenEvent[];
  finish: { reason: FinishReason; at: number; outcome: FinishOutcome } | null;
}

interface ReqOpts {
  maxTokens?: number;
  minTokens?: number;
  eosAt?: number;
  holdKvOnFinish?: boolean;
  remoteKv?: RemoteKvSource;
  salt?: bigint;
  /** The sink asks for a stop at this output index. */
  stopAtIndex?: number;
  onToken?: (t: TokenEvent) => void;
  priority?: number;
}

/** `n` prompt tokens; different `variant`s share nothing. */
function prompt(n: number, variant = 0): number[] {
  return Array.from({ length: n }, (_, i) => variant * 1_000_000 + i + 1);
}

function harness(profile: Profile, opts: Partial<Omit<EngineOptions, 'profile' | 'clock'>> = {}) {
  const clock = new VirtualClock();
  const engine = new Engine({ profile, clock, ...opts });
  const recs: Rec[] = [];
  let next = 0;
  const add = (tokens: readonly number[], o: ReqOpts = {}, id = `r${next++}`): Rec => {
    const rec: Rec = { id, addedAt: clock.now(), tokens: [], finish: null };
    recs.push(rec);
    const req: NewRequest = {
      id,
      promptTokens: tokens,
      blockHashes: blockHashes(tokens, BS, o.salt ?? 0n),
      maxTokens: o.maxTokens ?? 8,
      minTokens: o.minTokens ?? 0,
      eosAt: o.eosAt ?? Number.POSITIVE_INFINITY,
      ...(o.holdKvOnFinish ? { holdKvOnFinish: true } : {}),
      ...(o.remoteKv ? { remoteKv: o.remoteKv } : {}),
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
      sink: {
        token(t) {
          assert.equal(rec.finish, null, `${id}: token after finish`);
          rec.tokens.push(t);
          o.onToken?.(t);
          return o.stopAtIndex !== undefined && t.index >= o.stopAtIndex;
        },
        finish(reason, at, outcome) {
          assert.equal(rec.finish, null, `${id}: finished twice`);
          rec.finish = { reason, at, outcome };
        },
      },
    };
    engine.add(req);
    return rec;
  };
  return { clock, engine, recs, add };
}

/** The finish record, read through a call so that an earlier assertion does not narrow it for the compiler. */
const finishOf = (r: Rec): Rec['finish'] => r.finish;

const ttft = (r: Rec): number => {
  assert.ok(r.tokens.length > 0, `${r.id} produced no token`);
  return r.tokens[0]!.at - r.addedAt;
};

const itls = (r: Rec): number[] => r.tokens.slice(1).map((t, i) => t.at - r.tokens[i]!.at);
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: readonly number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Every token index 0..n-1 exactly once, in order, at non-decreasing times. */
function assertContiguous(r: Rec, n: number): void {
  assert.deepEqual(
    r.tokens.map((t) => t.index),
    Array.from({ length: n }, (_, i) => i),
    `${r.id}: token indices`,
  );
  for (let i = 1; i < r.tokens.length; i++) assert.ok(r.tokens[i]!.at > r.tokens[i - 1]!.at, `${r.id}: token times`);
}

/** A remote KV source whose load settles `delayMs` of simulated time later. */
function remoteSource(clock: VirtualClock, result: boolean | 'reject' | ((call: number) => boolean), onFailure: 'recompute' | 'fail', delayMs = 3) {
  const calls: { blocks: readonly number[]; promptTokens: number }[] = [];
  const source: RemoteKvSource = {
    onFailure,
    load(blocks, promptTokens) {
      calls.push({ blocks: blocks.slice(), promptTokens });
      const n = calls.length;
      return new Promise<boolean>((resolve, reject) => {
        clock.after(delayMs, () => {
          if (result === 'reject') reject(new Error('side channel down'));
          else resolve(typeof result === 'function' ? result(n) : result);
        });
      });
    },
  };
  return { source, calls };
}

/** Runs simulated time in small slices so that promise callbacks (remote KV loads) land between them. */
async function drive(clock: VirtualClock, done: () => boolean, sliceMs = 0.5, maxMs = 60_000): Promise<void> {
  const end = clock.now() + maxMs;
  while (!done()) {
    assert.ok(clock.now() < end, 'simulation did not settle');
    clock.run(clock.now() + sliceMs);
    await tick();
  }
}

describe('engine', () => {
  test('engine - the first token of a lone request comes after one step, as long as the cost model says', () => {
    const { clock, add } = harness(LLAMA);
    const r = add(prompt(100), { maxTokens: 1 });
    clock.run();
    const expected = stepDurationMs(LLAMA, { prefillTokens: 100, decodeSeqs: 0, contextTokens: 100, attentionPairs: (100 * 101) / 2 });
    assert.equal(ttft(r), expected);
    assert.equal(r.finish?.reason, 'length');
    assert.equal(r.finish?.at, expected);
  });

  test('engine - TTFT rises with prompt length', () => {
    const lengths = [16, 256, 1024, 4096, 8192, 16384];
    const ttfts = lengths.map((n) => {
      const { clock, add } = harness(LLAMA);
      const r = add(prompt(n), { maxTokens: 1 });
      clock.run();
      return ttft(r);
    });
    for (let i = 1; i < ttfts.length; i++) assert.ok(ttfts[i]! > ttfts[i - 1]!, `TTFT ${lengths[i]} tokens (${ttfts[i]}) > ${lengths[i - 1]} tokens (${ttfts[i - 1]})`);
    // Short prompts are overhead-bound, long ones compute-bound (and attention grows with the square): 1000× the tokens costs far more than 10× the time.
    assert.ok(ttfts.at(-1)! > 20 * ttfts[0]!, `16K: ${ttfts.at(-1)} ms, 16: ${ttfts[0]} ms`);
  });

  test('engine - queueing behind a running step adds to TTFT', () => {
    const { clock, add } = harness(LLAMA);
    const first = add(prompt(4096, 1), { maxTokens: 1 });
    clock.run(1); // mid-way through the first request's prefill
    const second = add(prompt(16, 2), { maxTokens: 1 });
    clock.run();
    const alone = harness(LLAMA);
    const ref = alone.add(prompt(16, 2), { maxTokens: 1 });
    alone.clock.run();
    assert.ok(ttft(second) > ttft(ref) + ttft(first) / 2, `queued ${ttft(second)} vs alone ${ttft(ref)}`);
    assert.ok(second.finish!.outcome.scheduledAt! > second.addedAt, 'scheduled only after the running step');
  });

  test('engine - a cached prefix cuts TTFT', () => {
    const { clock, engine, add } = harness(LLAMA);
    const p = prompt(2000);
    const a = add(p, { maxTokens: 4 });
    clock.run();
    const b = add(p, { maxTokens: 4 });
    clock.run();
    assert.equal(a.finish?.outcome.cachedTokens, 0);
    // Full blocks of all but the last prompt token: floor(1999 / 16) * 16.
    assert.equal(b.finish?.outcome.cachedTokens, 1984);
    assert.ok(b.tokens.every((t) => t.cachedTokens === 1984));
    assert.equal(engine.stats.prefixQueries, 4000);
    assert.equal(engine.stats.prefixHits, 1984);
    assert.equal(engine.stats.promptTokens, 4000);
    assert.equal(engine.stats.promptTokensComputed, 2000 + 16);
    assert.ok(ttft(b) < ttft(a) / 3, `cached ${ttft(b)} ms vs cold ${ttft(a)} ms`);
  });

  test('engine - the last prompt token is always computed, even when the whole prompt is cached', () => {
    const { clock, add } = harness(TINY);
    const p = prompt(64); // exactly 4 blocks
    add(p, { maxTokens: 1 });
    clock.run();
    const b = add(p, { maxTokens: 1 });
    clock.run();
    assert.equal(b.finish?.outcome.cachedTokens, 48);
  });

  test('engine - a shared leading part hits only its full blocks', () => {
    const { clock, add } = harness(TINY);
    const shared = prompt(100, 1);
    add([...shared, ...prompt(50, 2)], { maxTokens: 1 });
    clock.run();
    const b = add([...shared, ...prompt(50, 3)], { maxTokens: 1 });
    clock.run();
    assert.equal(b.finish?.outcome.cachedTokens, 96);
  });

  test('engine - a different cache salt shares nothing', () => {
    const { clock, engine, add } = harness(TINY);
    const p = prompt(200);
    add(p, { maxTokens: 1, salt: saltOf('tenant-a') });
    clock.run();
    const b = add(p, { maxTokens: 1, salt: saltOf('tenant-b') });
    clock.run();
    const c = add(p, { maxTokens: 1, salt: saltOf('tenant-a') });
    clock.run();
    assert.equal(b.finish?.outcome.cachedTokens, 0);
    assert.equal(c.finish?.outcome.cachedTokens, 192);
    assert.equal(engine.stats.prefixHits, 192);
  });

  test('engine - requests admitted in the same step share their common prefix (vLLM caches blocks when it schedules them)', () => {
    const { clock, engine, add } = harness(TINY);
    const steps: number[] = [];
    engine.onStep = (tokens) => steps.push(tokens);
    add(prompt(8, 9), { maxTokens: 1 }); // occupies the first step, so the next two queue and are admitted together
    const p = prompt(160);
    const a = add(p, { maxTokens: 2 });
    const b = add(p, { maxTokens: 2 });
    clock.run();
    assert.equal(a.finish?.outcome.cachedTokens, 0);
    assert.equal(b.finish?.outcome.cachedTokens, 144);
    assert.equal(a.tokens[0]!.at, b.tokens[0]!.at, 'same step');
    assert.deepEqual(steps, [8, 160 + 16, 2]);
    assert.equal(engine.stats.promptTokensComputed, 8 + 160 + 16);
  });

  test('engine - mean ITL rises with batch size', () => {
    const meanItl = (batch: number): number => {
      const { clock, engine, add } = harness(LLAMA);
      const rs = Array.from({ length: batch }, (_, i) => add(prompt(1024, i), { maxTokens: 40 }));
      clock.run();
      assert.equal(engine.stats.finished.length, batch);
      // Steady decoding: skip the tokens that shared a step with someone's prefill.
      return mean(rs.flatMap((r) => itls(r).slice(10)));
    };
    const one = meanItl(1);
    const sixteen = meanItl(16);
    const sixtyFour = meanItl(64);
    assert.ok(one < sixteen && sixteen < sixtyFour, `ITL 1: ${one}, 16: ${sixteen}, 64: ${sixtyFour}`);
    // Absolute figures are the calibration test's business; here only that batching costs something real.
    assert.ok(sixtyFour > 1.2 * one, `batch 64: ${sixtyFour} ms vs batch 1: ${one} ms`);
  });

  test('engine - a prefill chunk sharing a step stretches the ITL of running decodes', () => {
    const { clock, add } = harness(LLAMA);
    let longAdded = false;
    let long: Rec | undefined;
    const decoder = add(prompt(64, 1), {
      maxTokens: 60,
      onToken: (t) => {
        if (t.index === 20 && !longAdded) {
          longAdded = true;
          long = add(prompt(8000, 2), { maxTokens: 1 });
        }
      },
    });
    clock.run();
    assert.ok(long?.finish, 'the long prompt ran');
    const gaps = itls(decoder);
    const typical = median(gaps);
    const spike = Math.max(...gaps);
    assert.ok(spike > 10 * typical, `spike ${spike} ms vs typical ${typical} ms`);
    // The spike is the step that carried the long prompt's prefill and produced its first token.
    const spikeEnd = decoder.tokens[gaps.indexOf(spike) + 1]!.at;
    assert.equal(spikeEnd, long!.tokens[0]!.at);
    // Decoding goes back to normal afterwards.
    assert.ok(gaps.at(-1)! < 2 * typical);
  });

  test('engine - KV exhaustion queues requests instead of failing them', () => {
    // 20 blocks; each request needs ceil((100 + 10) / 16) = 7, so at most two run at once.
    const { clock, engine, add } = harness(TINY, { numGpuBlocks: 20 });
    const rs = Array.from({ length: 10 }, (_, i) => add(prompt(100, i), { maxTokens: 10 }));
    let maxRunning = 0;
    let sawQueue = false;
    engine.onStep = () => {
      maxRunning = Math.max(maxRunning, engine.numRunning);
      if (engine.numWaiting > 0) sawQueue = true;
    };
    clock.run();
    assert.ok(sawQueue, 'requests waited for blocks');
    assert.ok(maxRunning <= 2, `running at once: ${maxRunning}`);
    for (const r of rs) {
      assert.equal(r.finish?.reason, 'length', r.id);
      assertContiguous(r, 10);
    }
    assert.equal(engine.stats.finished.length, 10);
    assert.equal(engine.stats.finished.error, 0);
    assert.equal(engine.numRunning, 0);
    assert.equal(engine.numWaiting, 0);
    assert.equal(engine.pool.usage, 0);
  });

  test('engine - running sequences that outgrow the blocks are preempted and still all finish', () => {
    // 4 × 32-token prompts fit in 16 blocks, but 4 × (32 + 64) tokens need 24.
    const { clock, engine, add } = harness(TINY, { numGpuBlocks: 16 });
    const rs = Array.from({ length: 4 }, (_, i) => add(prompt(32, i), { maxTokens: 64 }));
    let maxBlocksInUse = 0;
    engine.onStep = () => {
      maxBlocksInUse = Math.max(maxBlocksInUse, engine.pool.numBlocks - engine.pool.numFree);
    };
    clock.run();
    assert.ok(engine.stats.preemptions > 0, 'preempted');
    for (const r of rs) {
      assert.equal(r.finish?.reason, 'length', r.id);
      assertContiguous(r, 64);
    }
    assert.equal(engine.stats.generationTokens, 4 * 64);
    // Recomputation after preemption is prompt work done again.
    assert.ok(engine.stats.promptTokensComputed > 4 * 32);
    assert.ok(maxBlocksInUse <= 16);
    assert.equal(engine.pool.usage, 0);
  });

  test('engine - max_num_seqs caps the running batch', () => {
    const { clock, engine, add } = harness(TINY, { maxNumSeqs: 4 });
    const rs = Array.from({ length: 10 }, (_, i) => add(prompt(20, i), { maxTokens: 5 }));
    const running: number[] = [];
    engine.onStep = () => running.push(engine.numRunning);
    clock.run();
    assert.equal(Math.max(...running), 4);
    for (const r of rs) assert.equal(r.finish?.reason, 'length');
  });

  test('engine - a prompt longer than max_num_batched_tokens is prefilled in chunks over several steps', () => {
    const { clock, engine, add } = harness(TINY, { maxNumBatchedTokens: 512 });
    const steps: number[] = [];
    const durations: number[] = [];
    engine.onStep = (tokens, ms) => {
      steps.push(tokens);
      durations.push(ms);
    };
    const r = add(prompt(2000), { maxTokens: 3 });
    clock.run();
    // Four prompt chunks, then two decode steps.
    assert.deepEqual(steps, [512, 512, 512, 464, 1, 1]);
    // The first token comes out of the fourth step.
    const fourSteps = durations.slice(0, 4).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(r.tokens[0]!.at - fourSteps) < 1e-9);
    assert.equal(engine.stats.promptTokensComputed, 2000);
    assertContiguous(r, 3);
    // The first token needs all four chunks: slower than one unchunked step of the same prompt.
    const whole = harness(TINY);
    const w = whole.add(prompt(2000), { maxTokens: 1 });
    whole.clock.run();
    assert.ok(ttft(r) > ttft(w));
  });

  test('engine - decodes are scheduled before a new prefill and share the token budget', () => {
    const { clock, engine, add } = harness(TINY, { maxNumBatchedTokens: 256 });
    const steps: number[] = [];
    const a = add(prompt(16, 1), {
      maxTokens: 12,
      onToken: (t) => {
        if (t.index === 2) add(prompt(600, 2), { maxTokens: 1 });
      },
    });
    engine.onStep = (tokens) => steps.push(tokens);
    clock.run();
    assertContiguous(a, 12);
    // While the 600-token prompt is chunked, every step is the decode (1) plus 255 prompt tokens.
    assert.ok(steps.includes(256), `steps: ${steps.join(',')}`);
    assert.ok(steps.every((s) => s <= 256));
  });

  test('engine - abort frees the blocks of a running request and counts finished.abort', () => {
    const { clock, engine, add } = harness(TINY);
    const r = add(prompt(100), { maxTokens: 1000 });
    clock.run(20);
    assert.ok(r.tokens.length > 0);
    assert.equal(finishOf(r), null);
    assert.ok(engine.pool.usage > 0);
    assert.equal(engine.abort(r.id), true);
    assert.equal(r.finish?.reason, 'abort');
    assert.equal(r.finish?.at, 20);
    assert.equal(engine.stats.finished.abort, 1);
    assert.equal(engine.pool.usage, 0);
    assert.equal(engine.numRunning, 0);
    assert.equal(engine.has(r.id), false);
    const produced = r.tokens.length;
    clock.run();
    assert.equal(r.tokens.length, produced, 'no token after the abort');
  });

  test('engine - abort of a queued request removes it from the queue', () => {
    const { clock, engine, add } = harness(TINY, { maxNumSeqs: 1 });
    const a = add(prompt(20, 1), { maxTokens: 5 });
    const b = add(prompt(20, 2), { maxTokens: 5 });
    assert.equal(engine.numWaiting, 1);
    assert.equal(engine.abort(b.id), true);
    assert.equal(engine.numWaiting, 0);
    clock.run();
    assert.equal(a.finish?.reason, 'length');
    assert.equal(b.finish?.reason, 'abort');
    assert.equal(b.finish?.outcome.scheduledAt, undefined);
    assert.equal(b.tokens.length, 0);
  });

  test('engine - under the priority policy waiting requests are admitted by priority, then arrival; fcfs ignores it', () => {
    for (const policy of ['priority', 'fcfs'] as const) {
      const { clock, add } = harness(TINY, { maxNumSeqs: 1, schedulingPolicy: policy });
      const first = add(prompt(20, 1), { maxTokens: 2 });
      const late = add(prompt(20, 2), { maxTokens: 2, priority: 5 });
      const a = add(prompt(20, 3), { maxTokens: 2, priority: 0 });
      const urgent = add(prompt(20, 4), { maxTokens: 2, priority: -1 });
      const b = add(prompt(20, 5), { maxTokens: 2, priority: 0 });
      clock.run();
      const order = [first, late, a, urgent, b].sort((x, y) => x.finish!.at - y.finish!.at).map((r) => r.id);
      const want = policy === 'priority' ? [first, urgent, a, b, late] : [first, late, a, urgent, b];
      assert.deepEqual(
        order,
        want.map((r) => r.id),
        policy,
      );
    }
  });

  test('engine - abort of an unknown or finished request returns false', () => {
    const { clock, engine, add } = harness(TINY);
    assert.equal(engine.abort('nope'), false);
    const r = add(prompt(10), { maxTokens: 1 });
    clock.run();
    assert.equal(engine.abort(r.id), false);
    assert.equal(engine.stats.finished.abort, 0);
  });

  test('engine - a sink can abort its own request from a token callback', () => {
    const h = harness(TINY);
    const r = h.add(prompt(10), { maxTokens: 50, onToken: (t) => t.index === 3 && h.engine.abort(r.id) });
    h.clock.run();
    assert.equal(r.finish?.reason, 'abort');
    assert.equal(r.tokens.length, 4);
    assert.equal(h.engine.pool.usage, 0);
  });

  // [name, opts, finish reason, tokens]
  const endings: [string, ReqOpts, FinishReason, number][] = [
    ['max_tokens ends with length', { maxTokens: 7 }, 'length', 7],
    ['max_tokens 1 ends after the first token', { maxTokens: 1 }, 'length', 1],
    ['EOS ends with stop', { maxTokens: 50, eosAt: 5 }, 'stop', 5],
    ['max_tokens before EOS ends with length', { maxTokens: 4, eosAt: 5 }, 'length', 4],
    ['max_tokens at the EOS position ends with length', { maxTokens: 5, eosAt: 5 }, 'length', 5],
    ['min_tokens delays EOS', { maxTokens: 50, eosAt: 3, minTokens: 10 }, 'stop', 10],
    ['min_tokens below the EOS position changes nothing', { maxTokens: 50, eosAt: 8, minTokens: 2 }, 'stop', 8],
    ['min_tokens up to max_tokens ends with length', { maxTokens: 6, eosAt: 2, minTokens: 6 }, 'length', 6],
    ['ignore_eos (eosAt Infinity) runs to max_tokens', { maxTokens: 30, eosAt: Number.POSITIVE_INFINITY }, 'length', 30],
    ['a matched stop string ends with stop', { maxTokens: 50, stopAtIndex: 2 }, 'stop', 3],
  ];
  for (const [name, opts, reason, n] of endings) {
    test(`engine - ${name}`, () => {
      const { clock, engine, add } = harness(TINY);
      const r = add(prompt(30), opts);
      clock.run();
      assert.equal(r.finish?.reason, reason);
      assertContiguous(r, n);
      assert.equal(r.finish?.at, r.tokens.at(-1)!.at);
      assert.equal(engine.stats.finished[reason], 1);
      assert.equal(engine.stats.generationTokens, n);
      const last = r.tokens.at(-1)!;
      if (opts.stopAtIndex === undefined) assert.equal(last.ending, reason);
      assert.ok(r.tokens.slice(0, -1).every((t) => t.ending === null));
    });
  }

  test('engine - holdKvOnFinish hands the blocks to finish and keeps them until releaseBlocks', () => {
    const { clock, engine, add } = harness(TINY);
    const r = add(prompt(100), { maxTokens: 1, holdKvOnFinish: true });
    clock.run();
    assert.equal(r.finish?.reason, 'length');
    const held = r.finish!.outcome.heldBlocks!;
    assert.equal(held.length, Math.ceil(100 / 16));
    for (const id of held) assert.equal(engine.pool.refCount(id), 1);
    assert.equal(engine.pool.numFree, engine.pool.numBlocks - held.length);
    engine.releaseBlocks(held);
    assert.equal(engine.pool.numFree, engine.pool.numBlocks);
    for (const id of held) assert.equal(engine.pool.refCount(id), 0);
    // The held prompt blocks stay in the prefix cache after release.
    const again = add(prompt(100), { maxTokens: 1 });
    clock.run();
    assert.equal(again.finish?.outcome.cachedTokens, 96);
  });

  test('engine - held blocks block admission until they are released', () => {
    const { clock, engine, add } = harness(TINY, { numGpuBlocks: 8 });
    const p = add(prompt(100, 1), { maxTokens: 1, holdKvOnFinish: true });
    clock.run();
    const held = p.finish!.outcome.heldBlocks!;
    assert.equal(held.length, 7);
    const q = add(prompt(48, 2), { maxTokens: 1 }); // needs 3 blocks, 1 is free
    clock.run();
    assert.equal(finishOf(q), null);
    assert.equal(engine.numWaiting, 1);
    engine.releaseBlocks(held);
    clock.run();
    assert.equal(q.finish?.reason, 'length');
  });

  test('engine - without holdKvOnFinish, or on abort, nothing is held', () => {
    const { clock, engine, add } = harness(TINY);
    const plain = add(prompt(40, 1), { maxTokens: 2 });
    const aborted = add(prompt(40, 2), { maxTokens: 100, holdKvOnFinish: true });
    clock.run(10);
    engine.abort(aborted.id);
    clock.run();
    assert.equal(plain.finish?.outcome.heldBlocks, undefined);
    assert.equal(aborted.finish?.reason, 'abort');
    assert.equal(aborted.finish?.outcome.heldBlocks, undefined);
    assert.equal(engine.pool.usage, 0);
  });

  test('engine - a duplicate live id throws; the id is free again once finished', () => {
    const { clock, add } = harness(TINY);
    add(prompt(10), { maxTokens: 1 }, 'same');
    assert.throws(() => add(prompt(10), { maxTokens: 1 }, 'same'), /duplicate request id/);
    clock.run();
    const again = add(prompt(10), { maxTokens: 1 }, 'same');
    clock.run();
    assert.equal(again.finish?.reason, 'length');
  });

  test('engine - a loaded remote KV source replaces the local prefill', async () => {
    const { clock, engine, add } = harness(TINY);
    const { source, calls } = remoteSource(clock, true, 'fail');
    const r = add(prompt(200), { maxTokens: 5, remoteKv: source });
    assert.equal(engine.numWaiting, 1, 'waiting for remote KV counts as waiting');
    assert.equal(engine.numRunning, 0);
    await drive(clock, () => r.finish !== null);
    assert.equal(r.finish?.reason, 'length');
    assertContiguous(r, 5);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.promptTokens, 200);
    assert.equal(calls[0]!.blocks.length, Math.ceil(200 / 16));
    assert.equal(engine.stats.promptTokensComputed, 0);
    assert.equal(engine.stats.remoteKvTokensLoaded, 200);
    assert.equal(engine.stats.remoteKvLoadFailures, 0);
    // num_cached_tokens: everything but the last prompt token, which is recomputed locally.
    assert.equal(r.finish?.outcome.cachedTokens, 199);
    // The first token needs the pull plus one small step, far less than a local prefill would take.
    assert.ok(ttft(r) >= 3);
    assert.equal(engine.pool.usage, 0);
  });

  test('engine - KV pulled from a remote worker is not a local prefix-cache hit', async () => {
    const { clock, engine, add } = harness(TINY);
    const { source } = remoteSource(clock, true, 'fail');
    const r = add(prompt(200), { maxTokens: 2, remoteKv: source });
    await drive(clock, () => r.finish !== null);
    assert.equal(engine.stats.prefixQueries, 200);
    assert.equal(engine.stats.prefixHits, 0);
    // Once landed it is cached locally like any computed prompt.
    const local = add(prompt(200), { maxTokens: 1 });
    clock.run();
    assert.equal(local.finish?.outcome.cachedTokens, 192);
    assert.equal(engine.stats.prefixHits, 192);
  });

  test('engine - a failed remote load with onFailure recompute computes the prompt locally', async () => {
    const { clock, engine, add } = harness(TINY);
    const { source, calls } = remoteSource(clock, false, 'recompute');
    const r = add(prompt(200), { maxTokens: 3, remoteKv: source });
    await drive(clock, () => r.finish !== null);
    assert.equal(r.finish?.reason, 'length');
    assertContiguous(r, 3);
    assert.equal(calls.length, 1);
    assert.equal(engine.stats.remoteKvLoadFailures, 1);
    assert.equal(engine.stats.remoteKvTokensLoaded, 0);
    assert.equal(engine.stats.promptTokensComputed, 200);
    assert.equal(r.finish?.outcome.cachedTokens, 0);
    assert.equal(engine.pool.usage, 0);
  });

  test('engine - a failed remote load with onFailure fail ends the request with error', async () => {
    const { clock, engine, add } = harness(TINY);
    const { source } = remoteSource(clock, false, 'fail');
    const r = add(prompt(200), { maxTokens: 3, remoteKv: source });
    await drive(clock, () => r.finish !== null);
    assert.equal(r.finish?.reason, 'error');
    assert.equal(r.tokens.length, 0);
    assert.equal(engine.stats.finished.error, 1);
    assert.equal(engine.stats.remoteKvLoadFailures, 1);
    assert.equal(engine.stats.promptTokensComputed, 0);
    assert.equal(engine.pool.usage, 0);
    assert.equal(engine.numWaiting, 0);
  });

  test('engine - a remote load that throws counts as a failed load', async () => {
    const { clock, engine, add } = harness(TINY);
    const { source } = remoteSource(clock, 'reject', 'recompute');
    const r = add(prompt(64), { maxTokens: 2, remoteKv: source });
    await drive(clock, () => r.finish !== null);
    assert.equal(r.finish?.reason, 'length');
    assert.equal(engine.stats.remoteKvLoadFailures, 1);
    assert.equal(engine.stats.promptTokensComputed, 64);
  });

  test('engine - aborting a request while its remote KV loads frees its blocks and ignores the late result', async () => {
    const { clock, engine, add } = harness(TINY);
    const { source } = remoteSource(clock, true, 'fail', 10);
    const r = add(prompt(200), { maxTokens: 3, remoteKv: source });
    clock.run(2);
    assert.ok(engine.pool.usage > 0, 'blocks reserved for the pull');
    engine.abort(r.id);
    assert.equal(engine.pool.usage, 0);
    assert.equal(engine.numWaiting, 0);
    await drive(clock, () => clock.now() > 20);
    assert.equal(r.finish?.reason, 'abort');
    assert.equal(r.tokens.length, 0);
    assert.equal(engine.stats.remoteKvTokensLoaded, 0);
    assert.equal(engine.pool.usage, 0);
  });

  test('engine - a remote-KV request that is preempted recomputes locally and never pulls again', async () => {
    // A (local) runs first; R (remote) is admitted after it, so R is the newest and gets preempted
    // when both outgrow the 8 blocks. The prefill worker's copy is gone after the first pull.
    const { clock, engine, add } = harness(TINY, { numGpuBlocks: 8 });
    const a = add(prompt(16, 1), { maxTokens: 80 });
    const { source, calls } = remoteSource(clock, (n) => n === 1, 'fail', 1);
    const r = add(prompt(32, 2), { maxTokens: 40, remoteKv: source });
    await drive(clock, () => a.finish !== null && r.finish !== null);
    assert.ok(engine.stats.preemptions > 0, 'preempted');
    assert.equal(calls.length, 1, 'pulled once');
    assert.equal(a.finish?.reason, 'length');
    assert.equal(r.finish?.reason, 'length');
    assertContiguous(r, 40);
    assertContiguous(a, 80);
    assert.equal(engine.stats.remoteKvLoadFailures, 0);
    assert.equal(engine.pool.usage, 0);
  });

  test('engine - stats and onStep account for every step', () => {
    const { clock, engine, add } = harness(TINY);
    const seen: { tokens: number; ms: number }[] = [];
    engine.onStep = (tokens, ms) => seen.push({ tokens, ms });
    add(prompt(50, 1), { maxTokens: 4 });
    add(prompt(30, 2), { maxTokens: 2 });
    clock.run();
    assert.equal(engine.stats.steps, seen.length);
    assert.equal(
      seen.reduce((s, x) => s + x.tokens, 0),
      50 + 3 + 30 + 1,
    ); // prompt tokens plus decodes after the first token
    assert.ok(Math.abs(engine.stats.busyMs - seen.reduce((s, x) => s + x.ms, 0)) < 1e-9);
    // Back-to-back steps: the clock ends exactly at the sum of step durations.
    assert.ok(Math.abs(clock.now() - engine.stats.busyMs) < 1e-9);
    assert.equal(engine.stats.generationTokens, 6);
    assert.equal(engine.stats.maxLagMs, 0);
  });

  test('engine - an idle engine takes no steps and resumes when work arrives', () => {
    const { clock, engine, add } = harness(TINY);
    clock.run(100);
    assert.equal(engine.stats.steps, 0);
    const r = add(prompt(10), { maxTokens: 2 });
    assert.equal(r.addedAt, 100);
    clock.run();
    assert.ok(r.tokens[0]!.at > 100);
    assert.equal(r.finish?.reason, 'length');
  });

  test('engine - defaults come from the profile', () => {
    const { engine } = harness(TINY);
    assert.equal(engine.pool.numBlocks, TINY.numGpuBlocks);
    assert.equal(engine.maxNumSeqs, TINY.maxNumSeqs);
    assert.equal(engine.maxNumBatchedTokens, TINY.maxNumBatchedTokens);
    assert.equal(engine.blockSize, TINY.blockSize);
  });
});
