// Measurements of the simulated engine, in simulated time only: each runs an Engine under its own
// VirtualClock (deterministic, no wall-clock time involved) and reads TTFT, ITL, prefill and decode
// throughput off the token events, as a client of the engine would see them.
import { VirtualClock } from '../../sim/clock.ts';
import { Engine, type FinishReason, type TokenEvent } from '../../sim/engine.ts';
import type { Profile } from '../../sim/profiles.ts';

const prompts = new Map<number, number[]>();
/** A prompt of `len` token ids. Requests carry no block hashes, so nothing is ever a prefix-cache hit. */
function promptOf(len: number): number[] {
  let p = prompts.get(len);
  if (!p) {
    p = Array.from({ length: len }, (_, i) => 1000 + i);
    prompts.set(len, p);
  }
  return p;
}

interface Tracked {
  /** When the client sent it (the HTTP layer then spends `frontendMs` before the engine sees it). */
  readonly sentAt: number;
  readonly times: number[];
  finishedAt: number | undefined;
  reason: FinishReason | undefined;
}

class Bench {
  readonly clock = new VirtualClock();
  readonly engine: Engine;
  readonly profile: Profile;
  #next = 0;

  constructor(profile: Profile) {
    this.profile = profile;
    this.engine = new Engine({ profile, clock: this.clock });
  }

  /**
   * Sends a request now. With `viaFrontend` the engine sees it `frontendMs` later, as with the HTTP
   * layer (generate.ts); without it the request goes straight into the engine.
   */
  send(promptLen: number, maxTokens: number, opts: { viaFrontend?: boolean; onFinish?: (t: Tracked) => void; onToken?: (t: Tracked, e: TokenEvent) => void } = {}): Tracked {
    const tracked: Tracked = { sentAt: this.clock.now(), times: [], finishedAt: undefined, reason: undefined };
    const id = `cal-${this.#next++}`;
    const add = (): void =>
      this.engine.add({
        id,
        promptTokens: promptOf(promptLen),
        blockHashes: [],
        maxTokens,
        minTokens: 0,
        eosAt: Number.POSITIVE_INFINITY,
        sink: {
          token: (e) => {
            tracked.times.push(e.at);
            opts.onToken?.(tracked, e);
            return false;
          },
          finish: (reason, at) => {
            tracked.finishedAt = at;
            tracked.reason = reason;
            opts.onFinish?.(tracked);
          },
        },
      });
    if (opts.viaFrontend) this.clock.after(this.profile.frontendMs, add);
    else add();
    return tracked;
  }
}

/** TTFT of one request on an idle engine, frontend time included (as a client would see it, minus the network). */
export function measureTtft(profile: Profile, promptLen: number): number {
  const b = new Bench(profile);
  const t = b.send(promptLen, 1, { viaFrontend: true });
  b.clock.run();
  return t.times[0]! - t.sentAt;
}

export interface DecodeResult {
  readonly batch: number;
  /** Mean gap between consecutive tokens of a sequence, over pure-decode steps with `batch` sequences running. */
  readonly itlMs: number;
  /** Output tokens per second of the whole engine in that phase. */
  readonly outputTokPerS: number;
  /** Mean context (prompt + output so far) of a sequence during the measured steps. */
  readonly meanContext: number;
  readonly preemptions: number;
}

/**
 * Steady decode: `batch` requests with `promptLen`-token prompts arrive at once; once every prompt is
 * computed, the next `decodeTokens` steps are pure decode at that batch (context promptLen … promptLen+decodeTokens).
 */
export function measureDecode(profile: Profile, batch: number, opts: { promptLen?: number; decodeTokens?: number } = {}): DecodeResult {
  const promptLen = opts.promptLen ?? 1024;
  const decodeTokens = opts.decodeTokens ?? 512;
  const b = new Bench(profile);
  const prefillSteps = Math.ceil((batch * promptLen) / b.engine.maxNumBatchedTokens) + 1;
  const seqs = Array.from({ length: batch }, () => b.send(promptLen, decodeTokens + prefillSteps + 1));
  b.clock.run();
  const t0 = Math.max(...seqs.map((s) => s.times[0]!));
  const t1 = Math.min(...seqs.map((s) => s.finishedAt!));
  let gaps = 0;
  let n = 0;
  let ctx = 0;
  for (const s of seqs) {
    for (let i = 1; i < s.times.length; i++) {
      const prev = s.times[i - 1]!;
      const cur = s.times[i]!;
      if (prev < t0 || cur > t1) continue;
      gaps += cur - prev;
      n++;
      ctx += promptLen + i;
    }
  }
  return { batch, itlMs: gaps / n, outputTokPerS: (n / (t1 - t0)) * 1000, meanContext: ctx / n, preemptions: b.engine.stats.preemptions };
}

export interface PrefillResult {
  readonly promptLen: number;
  readonly prompts: number;
  readonly promptTokPerS: number;
}

/** Prefill throughput: `count` prompts arrive at once and each asks for one token, so every step is a full prefill chunk. */
export function measurePrefill(profile: Profile, promptLen: number, count?: number): PrefillResult {
  const b = new Bench(profile);
  const n = count ?? Math.max(8, Math.ceil((16 * b.engine.maxNumBatchedTokens) / promptLen));
  const seqs = Array.from({ length: n }, () => b.send(promptLen, 1));
  b.clock.run();
  const end = Math.max(...seqs.map((s) => s.finishedAt!));
  return { promptLen, prompts: n, promptTokPerS: ((n * promptLen) / end) * 1000 };
}

/**
 * The vLLM docs sample run (`vllm bench serve`, 10 ShareGPT prompts, request rate inf): only the
 * totals are published (1369 input, 2212 output tokens, 5.78 s), so the per-request split below is
 * an assumption with those totals and a longest answer that fits the duration.
 */
export const DOCS_SAMPLE_INPUTS = [300, 250, 200, 150, 130, 110, 90, 60, 50, 29] as const;
export const DOCS_SAMPLE_OUTPUTS = [720, 420, 300, 220, 160, 120, 90, 70, 62, 50] as const;

export interface ReplayResult {
  readonly ttftMs: number;
  readonly tpotMs: number;
  readonly itlMs: number;
  readonly durationS: number;
  readonly outputTokPerS: number;
}

export function replayDocsSample(profile: Profile): ReplayResult {
  const b = new Bench(profile);
  const seqs = DOCS_SAMPLE_INPUTS.map((p, i) => b.send(p, DOCS_SAMPLE_OUTPUTS[i]!, { viaFrontend: true }));
  b.clock.run();
  let gaps = 0;
  let n = 0;
  let tpot = 0;
  for (const s of seqs) {
    for (let i = 1; i < s.times.length; i++) gaps += s.times[i]! - s.times[i - 1]!;
    n += s.times.length - 1;
    tpot += (s.times.at(-1)! - s.times[0]!) / (s.times.length - 1);
  }
  const duration = Math.max(...seqs.map((s) => s.finishedAt!));
  const out = DOCS_SAMPLE_OUTPUTS.reduce((a, x) => a + x, 0);
  return {
    ttftMs: seqs.reduce((a, s) => a + s.times[0]! - s.sentAt, 0) / seqs.length,
    tpotMs: tpot / seqs.length,
    itlMs: gaps / n,
    durationS: duration / 1000,
    outputTokPerS: (out / duration) * 1000,
  };
}

export interface ClosedLoopResult {
  readonly concurrency: number;
  readonly promptLen: number;
  readonly outputLen: number;
  readonly ttftMs: number;
  readonly itlMs: number;
  /** Mean ITL over tokens produced by steps that also carried a prefill chunk. */
  readonly itlMixedStepsMs: number;
  readonly outputTokPerS: number;
  /** Prompt tokens computed plus output tokens, per second (what "total token throughput" means in `vllm bench serve`). */
  readonly totalTokPerS: number;
  readonly meanRunning: number;
  readonly preemptions: number;
}

/**
 * A saturated server: `concurrency` clients each send a request (unique prompt, ignore_eos), and a new
 * one as soon as theirs finishes. Measured over [warmup, warmup + window] of simulated time.
 */
export function closedLoop(profile: Profile, o: { concurrency: number; promptLen: number; outputLen: number; warmupS: number; windowS: number }): ClosedLoopResult {
  const b = new Bench(profile);
  const w0 = o.warmupS * 1000;
  const w1 = w0 + o.windowS * 1000;
  let gaps = 0;
  let gapN = 0;
  let mixedGaps = 0;
  let mixedN = 0;
  let outTokens = 0;
  let ttft = 0;
  let ttftN = 0;
  let runningSum = 0;
  let steps = 0;
  let prefillStep = new Set<number>();
  // Step end times of steps that carried prefill tokens (a step is identified by its end time).
  let lastShapeHadPrefill = false;
  const prevOnStep = b.engine.onStep;
  b.engine.onStep = (tokens, dur) => {
    prevOnStep?.(tokens, dur);
    const now = b.clock.now();
    if (now >= w0 && now < w1) {
      runningSum += b.engine.numRunning;
      steps++;
    }
    lastShapeHadPrefill = tokens > b.engine.numRunning;
    if (lastShapeHadPrefill) prefillStep.add(now + dur);
  };
  const onToken = (t: Tracked, e: TokenEvent): void => {
    if (e.at > w0 && e.at <= w1) outTokens++;
    if (e.index === 0) {
      if (t.sentAt >= w0 && e.at <= w1) {
        ttft += e.at - t.sentAt;
        ttftN++;
      }
      return;
    }
    const prev = t.times[t.times.length - 2]!;
    if (prev >= w0 && e.at <= w1) {
      gaps += e.at - prev;
      gapN++;
      if (prefillStep.has(e.at)) {
        mixedGaps += e.at - prev;
        mixedN++;
      }
    }
  };
  let promptAt0 = 0;
  let promptAt1 = 0;
  b.clock.after(w0, () => {
    promptAt0 = b.engine.stats.promptTokensComputed;
    prefillStep = new Set([...prefillStep].filter((t) => t >= w0));
  });
  b.clock.after(w1, () => {
    promptAt1 = b.engine.stats.promptTokensComputed;
  });
  const client = (): void => {
    b.send(o.promptLen, o.outputLen, { viaFrontend: true, onToken, onFinish: () => client() });
  };
  for (let i = 0; i < o.concurrency; i++) client();
  b.clock.run(w1);
  const secs = o.windowS;
  return {
    concurrency: o.concurrency,
    promptLen: o.promptLen,
    outputLen: o.outputLen,
    ttftMs: ttft / ttftN,
    itlMs: gaps / gapN,
    itlMixedStepsMs: mixedN > 0 ? mixedGaps / mixedN : Number.NaN,
    outputTokPerS: outTokens / secs,
    totalTokPerS: (outTokens + promptAt1 - promptAt0) / secs,
    meanRunning: runningSum / steps,
    preemptions: b.engine.stats.preemptions,
  };
}
