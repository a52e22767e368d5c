// Calibration of the simulated engine: runs the Engine under a VirtualClock (deterministic, no
// wall-clock time involved) for each profile, measures TTFT, ITL, prefill and decode throughput,
// and sets them beside the published or derived figures the profiles were calibrated to.
//
//   node --import tsx bench/calibrate/calibrate.ts            # prints a Markdown table,
//                                                       # writes bench/calibrate/calibration.json and
//                                                       # regenerates bench/calibrate/CALIBRATION.md
//   node --import tsx bench/calibrate/calibrate.ts --no-write # print only
//
// Sources: ../shared/research/vllm-protocol.md §4 and vllm-router.md §8.3 (see SOURCES below).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtualClock } from '../../sim/clock.ts';
import { Engine, type FinishReason, type TokenEvent } from '../../sim/engine.ts';
import { kvTransferMs, PROFILES, type Profile, type ProfileName } from '../../sim/profiles.ts';

// ---------------------------------------------------------------------------------------------
// Measurements (all in simulated time)
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// What each profile is measured on, and the figures it is held to
// ---------------------------------------------------------------------------------------------

export interface Plan {
  readonly ttftPrompts: readonly number[];
  readonly decodeBatches: readonly number[];
  readonly decodePromptLen: number;
  readonly decodeTokens: number;
  readonly prefillPrompts: readonly number[];
  /** Decode-only ITL at these batches with 1000-token prompts decoding 1000 tokens (a P/D decode pod). */
  readonly pdDecodeBatches: readonly number[];
  /** The same with 2000-token prompts decoding 2000 tokens. */
  readonly pdDecode2kBatches: readonly number[];
  readonly docsSample: boolean;
  readonly closedLoop: readonly { concurrency: number; promptLen: number; outputLen: number; warmupS: number; windowS: number }[];
}

export const FULL_PLAN: Plan = {
  ttftPrompts: [128, 1024, 2048, 4096],
  decodeBatches: [1, 16, 64, 128, 256],
  decodePromptLen: 1024,
  decodeTokens: 512,
  prefillPrompts: [1024, 4096],
  pdDecodeBatches: [],
  pdDecode2kBatches: [],
  docsSample: false,
  closedLoop: [],
};

const PLANS: Partial<Record<ProfileName, Plan>> = {
  'llama-3.1-8b-h100': { ...FULL_PLAN, pdDecodeBatches: [4, 8, 16, 32], pdDecode2kBatches: [4], docsSample: true },
  'deepseek-v3-tp8-h200': {
    ...FULL_PLAN,
    closedLoop: [
      { concurrency: 64, promptLen: 1000, outputLen: 1000, warmupS: 120, windowS: 120 },
      { concurrency: 256, promptLen: 1000, outputLen: 1000, warmupS: 120, windowS: 120 },
    ],
  },
};

export interface ProfileCalibration {
  readonly profile: ProfileName;
  readonly description: string;
  readonly ttft: readonly { promptLen: number; ms: number }[];
  readonly decode: readonly DecodeResult[];
  readonly prefill: readonly PrefillResult[];
  readonly pdDecode: readonly DecodeResult[];
  readonly pdDecode2k: readonly DecodeResult[];
  readonly docsSample: ReplayResult | null;
  readonly closedLoop: readonly ClosedLoopResult[];
}

export function calibrateProfile(name: ProfileName, plan: Plan = PLANS[name] ?? FULL_PLAN): ProfileCalibration {
  const p = PROFILES[name];
  return {
    profile: name,
    description: p.description,
    ttft: plan.ttftPrompts.map((len) => ({ promptLen: len, ms: measureTtft(p, len) })),
    decode: plan.decodeBatches.map((bs) => measureDecode(p, bs, { promptLen: plan.decodePromptLen, decodeTokens: plan.decodeTokens })),
    prefill: plan.prefillPrompts.map((len) => measurePrefill(p, len)),
    pdDecode: plan.pdDecodeBatches.map((bs) => measureDecode(p, bs, { promptLen: 1000, decodeTokens: 999 })),
    pdDecode2k: plan.pdDecode2kBatches.map((bs) => measureDecode(p, bs, { promptLen: 2000, decodeTokens: 1999 })),
    docsSample: plan.docsSample ? replayDocsSample(p) : null,
    closedLoop: plan.closedLoop.map((c) => closedLoop(p, c)),
  };
}

// ---------------------------------------------------------------------------------------------
// Anchors: published or derived figures, with their sources
// ---------------------------------------------------------------------------------------------

export const SOURCES = {
  docs: 'vLLM docs, `docs/benchmarking/cli.md`: sample `vllm bench serve` run, Hermes-3-Llama-3.1-8B, 10 ShareGPT prompts, request rate inf, GPU unstated (research/vllm-protocol.md §4.1)',
  derived8b: 'Derived from first principles in research/vllm-protocol.md §4.1 (16.1 GB weights at 2.3–2.7 TB/s, 128 KiB KV per token, 16 GFLOP/token at 400–600 TFLOPS)',
  llmdSim: 'llm-d-inference-sim reference values for 8B on H100 (research/vllm-protocol.md §4.1: ITL 10–15 ms at batch 1; prefill-overhead 25–40 ms + 0.15–0.30 ms/token, "8b-h100-balanced" 30 ms + 0.25 ms/token)',
  routerLlmd: 'vllm-project/router `scripts/k8s/llama3/llm-d/ROUTER_BENCHMARK_RESULTS.md` (research/vllm-router.md §8.3): 8P+8D Llama-3.1-8B, 1000/1000 tokens, TPOT 5.95/6.37/7.15/6.90 ms and mean TTFT 79/116/231/381 ms at concurrency 32/64/128/256; GPU unstated',
  routerDp8: 'vllm-project/router `scripts/k8s/llama3.1/BENCHMARK_RESULTS.md` (research/vllm-router.md §8.3): DP8 prefill + DP8 decode, 2000/2000 tokens, concurrency 32: TPOT 7.25 ms, mean TTFT 280 ms; GPU unstated',
  dsR1H100: 'Third-party DeepSeek-R1-0528 on 16× H100 at concurrency 1 (research/vllm-protocol.md §4.2): TPOT ≈ 31 ms, TTFT ≈ 0.2 s (128-token input), ≈ 0.7–0.8 s (1–2 K input)',
  gpustack: 'GPUStack page, DeepSeek on 8× H200 at high concurrency (research/vllm-protocol.md §4.2): 5–20 K total tok/s, TPOT in the hundreds of ms when saturated',
  dsEstimate: 'Rough simulator profile estimated in research/vllm-protocol.md §4.2: ITL 25–35 ms at low load rising to 100–300 ms saturated; prefill ≈ 150 ms + 0.3–0.5 ms/token at low concurrency',
} as const;
export type SourceKey = keyof typeof SOURCES;

export interface Anchor {
  readonly metric: string;
  /** Simulated value, from a calibration result. */
  readonly value: (c: ProfileCalibration) => number;
  readonly unit: string;
  /** Published or derived figure: a point or an inclusive range. */
  readonly published: number | readonly [number, number];
  readonly source: SourceKey;
  /** Why the simulated number differs, shown when it lies outside the published figure (±5 % for points). */
  readonly note?: string;
}

const dec = (c: ProfileCalibration, bs: number, which: 'decode' | 'pdDecode' | 'pdDecode2k' = 'decode'): DecodeResult => {
  const d = c[which].find((x) => x.batch === bs);
  if (!d) throw new Error(`no ${which} result at batch ${bs}`);
  return d;
};
const ttft = (c: ProfileCalibration, len: number): number => {
  const t = c.ttft.find((x) => x.promptLen === len);
  if (!t) throw new Error(`no TTFT at ${len}`);
  return t.ms;
};
const pre = (c: ProfileCalibration, len: number): number => {
  const t = c.prefill.find((x) => x.promptLen === len);
  if (!t) throw new Error(`no prefill result at ${len}`);
  return t.promptTokPerS;
};
const loop = (c: ProfileCalibration, conc: number): ClosedLoopResult => {
  const l = c.closedLoop.find((x) => x.concurrency === conc);
  if (!l) throw new Error(`no closed-loop result at ${conc}`);
  return l;
};

export const ANCHORS: Partial<Record<ProfileName, readonly Anchor[]>> = {
  'llama-3.1-8b-h100': [
    { metric: 'Docs sample replay: mean TTFT', value: (c) => c.docsSample!.ttftMs, unit: 'ms', published: 71.54, source: 'docs', note: 'The 10 prompts (1369 tokens) share one prefill step of ≈ 50 ms; the published TTFT also carries the Python client, the API server and the network, which the simulator models only as `frontendMs` (2 ms). Per-request prompt lengths are not published, so our split is assumed.' },
    { metric: 'Docs sample replay: mean TPOT', value: (c) => c.docsSample!.tpotMs, unit: 'ms', published: 7.91, source: 'docs', note: 'Just outside ±5 %: the per-step overhead (1 ms) and weight time (6.4 ms) reproduce the published ITL (7.74 ms) within 3 %; the unpublished GPU and answer lengths leave this much uncertainty.' },
    { metric: 'Docs sample replay: mean ITL', value: (c) => c.docsSample!.itlMs, unit: 'ms', published: 7.74, source: 'docs' },
    { metric: 'Docs sample replay: duration', value: (c) => c.docsSample!.durationS, unit: 's', published: 5.78, source: 'docs', note: 'Depends on the longest answer, which is not published (we assume 720 tokens).' },
    { metric: 'ITL @ batch 1 (ctx 1–1.5 K)', value: (c) => dec(c, 1).itlMs, unit: 'ms', published: [6, 7], source: 'derived8b', note: 'We keep 1 ms of per-step CPU/launch overhead plus 6.4 ms of weight streaming (2.5 TB/s, 75 % of peak), which puts batch 1 at the docs sample’s measured 7.7 ms rather than the 6–7 ms first-principles range.' },
    { metric: 'ITL @ batch 1 (ctx 1–1.5 K)', value: (c) => dec(c, 1).itlMs, unit: 'ms', published: [10, 15], source: 'llmdSim', note: 'The llm-d-inference-sim value is described in the research note as conservative; the vLLM docs run measured 7.7 ms.' },
    { metric: 'ITL @ batch 16', value: (c) => dec(c, 16).itlMs, unit: 'ms', published: [7, 10], source: 'derived8b' },
    { metric: 'ITL @ batch 64', value: (c) => dec(c, 64).itlMs, unit: 'ms', published: [10, 20], source: 'derived8b' },
    { metric: 'ITL @ batch 128', value: (c) => dec(c, 128).itlMs, unit: 'ms', published: [13, 34], source: 'derived8b' },
    { metric: 'ITL @ batch 256', value: (c) => dec(c, 256).itlMs, unit: 'ms', published: [20, 60], source: 'derived8b' },
    { metric: 'Prefill throughput, 1 K prompts', value: (c) => pre(c, 1024), unit: 'tok/s', published: [25_000, 37_000], source: 'derived8b' },
    { metric: 'Prefill throughput, 4 K prompts', value: (c) => pre(c, 4096), unit: 'tok/s', published: [25_000, 37_000], source: 'derived8b' },
    { metric: 'TTFT, 128-token prompt, idle', value: (c) => ttft(c, 128), unit: 'ms', published: [25 + 128 * 0.15, 40 + 128 * 0.3], source: 'llmdSim', note: 'llm-d-inference-sim charges a fixed 25–40 ms prefill overhead per request; vLLM on an H100 computes a 128-token prompt in a single ≈ 8 ms step (one weight pass), and the research note calls the sim’s prefill model pessimistic. We keep the engine-step model.' },
    { metric: 'TTFT, 1024-token prompt, idle', value: (c) => ttft(c, 1024), unit: 'ms', published: [25 + 1024 * 0.15, 40 + 1024 * 0.3], source: 'llmdSim', note: 'Same reason: the sim’s 0.15–0.30 ms/token is ≈ 4 K tok/s, against ≈ 27 K tok/s for a compute-bound H100 prefill.' },
    { metric: 'P/D decode pod: ITL @ 4 seqs, ctx 1–2 K (router conc 32)', value: (c) => dec(c, 4, 'pdDecode').itlMs, unit: 'ms', published: 5.95, source: 'routerLlmd', note: 'The router benchmark’s GPU is not stated; 5.95 ms at 4 sequences needs ≈ 3.3 TB/s of effective bandwidth for 16 GB of weights, i.e. an H200-class GPU (or a newer vLLM with less step overhead). Our profile is held to the H100 figures above.' },
    { metric: 'P/D decode pod: ITL @ 16 seqs, ctx 1–2 K (router conc 128)', value: (c) => dec(c, 16, 'pdDecode').itlMs, unit: 'ms', published: 7.15, source: 'routerLlmd', note: 'As above (GPU unstated).' },
    { metric: 'P/D decode pod: ITL @ 32 seqs, ctx 1–2 K (router conc 256)', value: (c) => dec(c, 32, 'pdDecode').itlMs, unit: 'ms', published: 6.9, source: 'routerLlmd', note: 'As above; at concurrency 256 that run was prefill-bound (TTFT 381 ms, throughput fell), so decode pods likely ran fewer than 32 sequences each.' },
    { metric: 'P/D decode (DP8) @ 4 seqs per GPU, ctx 2–4 K (router conc 32)', value: (c) => dec(c, 4, 'pdDecode2k').itlMs, unit: 'ms', published: 7.25, source: 'routerDp8', note: 'GPU unstated, as above; the gap is smaller at 2–4 K context, where KV reads weigh more.' },
    { metric: 'P/D TTFT estimate, 1000-token prompt (prefill + KV pull + 1 decode step)', value: (c) => ttft(c, 1024) + kvTransferMs(PROFILES['llama-3.1-8b-h100'], 1000) + dec(c, 4, 'pdDecode').itlMs, unit: 'ms', published: [59.63, 79.26], source: 'routerLlmd', note: 'Published median 59.6 / mean 79.3 ms at concurrency 32 include two router hops and queueing behind other prompts on the prefill pods, which an idle-engine estimate leaves out.' },
  ],
  'deepseek-v3-tp8-h200': [
    { metric: 'ITL @ batch 1 (ctx 1–1.5 K)', value: (c) => dec(c, 1).itlMs, unit: 'ms', published: 31, source: 'dsR1H100', note: 'The published figure is for 16× H100 across two nodes (inter-node collectives); this profile is one 8× H200 NVLink node, so a somewhat lower ITL is expected. It sits inside the 25–35 ms low-load estimate.' },
    { metric: 'ITL @ batch 1 (ctx 1–1.5 K)', value: (c) => dec(c, 1).itlMs, unit: 'ms', published: [25, 35], source: 'dsEstimate' },
    { metric: 'ITL @ batch 16', value: (c) => dec(c, 16).itlMs, unit: 'ms', published: [25, 35], source: 'dsEstimate', note: 'MoE decode touches more experts as the batch grows (weightSaturationSeqs = 32), so low-load ITL rises quickly above batch ≈ 8.' },
    { metric: 'ITL @ batch 256, pure decode', value: (c) => dec(c, 256).itlMs, unit: 'ms', published: [100, 300], source: 'dsEstimate', note: 'A pure-decode step at batch 256 costs ≈ 58 ms. The 100–300 ms "saturated" figure describes a server whose steps also carry prefill chunks; the closed-loop rows below reproduce it.' },
    { metric: 'TTFT, 128-token prompt, idle', value: (c) => ttft(c, 128), unit: 'ms', published: 200, source: 'dsR1H100' },
    { metric: 'TTFT, 1024-token prompt, idle', value: (c) => ttft(c, 1024), unit: 'ms', published: [700, 800], source: 'dsR1H100', note: 'Matching 0.7–0.8 s at 1–2 K with a per-token prefill cost would need ≈ 0.4 ms/token (≈ 2.5 K tok/s), which would cap saturated prefill far below the 5–20 K tok/s aggregate reported for 8× H200. The profile keeps the throughput anchor; the published latency was also measured on 16× H100 across two nodes.' },
    { metric: 'TTFT, 2048-token prompt, idle', value: (c) => ttft(c, 2048), unit: 'ms', published: [700, 800], source: 'dsR1H100', note: 'As above.' },
    { metric: 'Closed loop, conc 256, 1 K/1 K: mean ITL (≈ TPOT)', value: (c) => loop(c, 256).itlMs, unit: 'ms', published: [100, 300], source: 'dsEstimate' },
    { metric: 'Closed loop, conc 256, 1 K/1 K: mean ITL (≈ TPOT)', value: (c) => loop(c, 256).itlMs, unit: 'ms', published: [100, 1000], source: 'gpustack', note: '"Hundreds of ms" read as 100–1000 ms.' },
    { metric: 'Closed loop, conc 256, 1 K/1 K: total tok/s', value: (c) => loop(c, 256).totalTokPerS, unit: 'tok/s', published: [5_000, 20_000], source: 'gpustack' },
  ],
};

export interface AnchorCheck {
  readonly metric: string;
  readonly simulated: number;
  readonly unit: string;
  readonly published: number | readonly [number, number];
  /** Signed deviation from the point, or from the nearer end of the range (0 inside it), in percent. */
  readonly deviationPct: number;
  readonly within: boolean;
  readonly source: SourceKey;
  readonly note: string | null;
}

export function checkAnchor(a: Anchor, c: ProfileCalibration): AnchorCheck {
  const v = a.value(c);
  let dev: number;
  let within: boolean;
  if (typeof a.published === 'number') {
    dev = ((v - a.published) / a.published) * 100;
    within = Math.abs(dev) <= 5;
  } else {
    const [lo, hi] = a.published;
    dev = v < lo ? ((v - lo) / lo) * 100 : v > hi ? ((v - hi) / hi) * 100 : 0;
    within = dev === 0;
  }
  return { metric: a.metric, simulated: v, unit: a.unit, published: a.published, deviationPct: dev, within, source: a.source, note: within ? null : (a.note ?? null) };
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

function fmt(v: number, unit: string): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (unit === 'tok/s') return `${Math.round(v).toLocaleString('en-US')}`;
  if (unit === 's') return v.toFixed(2);
  return v >= 100 ? v.toFixed(0) : v >= 20 ? v.toFixed(1) : v.toFixed(2);
}

function fmtPublished(p: number | readonly [number, number], unit: string): string {
  const one = (v: number): string => (Number.isInteger(v) && unit !== 'tok/s' ? String(v) : fmt(v, unit));
  if (typeof p === 'number') return one(p);
  return `${one(p[0])}–${one(p[1])}`;
}

function fmtDev(c: AnchorCheck): string {
  if (c.within) return typeof c.published === 'number' ? `${c.deviationPct >= 0 ? '+' : ''}${c.deviationPct.toFixed(0)} % (ok)` : 'within';
  const where = typeof c.published === 'number' ? '' : c.deviationPct > 0 ? ' above' : ' below';
  return `**${c.deviationPct >= 0 ? '+' : ''}${c.deviationPct.toFixed(0)} %${where}**`;
}

export function measurementTable(c: ProfileCalibration): string {
  const rows: string[] = ['| Measurement | Simulated |', '|---|---|'];
  for (const t of c.ttft) rows.push(`| TTFT, ${t.promptLen}-token prompt, idle engine (incl. frontend) | ${t.ms.toFixed(1)} ms |`);
  for (const d of c.decode)
    rows.push(`| Decode @ batch ${d.batch} (mean ctx ${Math.round(d.meanContext)}): ITL / output | ${d.itlMs.toFixed(2)} ms / ${Math.round(d.outputTokPerS).toLocaleString('en-US')} tok/s |`);
  for (const p of c.prefill) rows.push(`| Prefill throughput, ${p.prompts} × ${p.promptLen}-token prompts | ${Math.round(p.promptTokPerS).toLocaleString('en-US')} tok/s |`);
  for (const d of c.pdDecode)
    rows.push(`| P/D decode pod @ ${d.batch} seqs, 1000 in / 1000 out (mean ctx ${Math.round(d.meanContext)}): ITL | ${d.itlMs.toFixed(2)} ms |`);
  for (const d of c.pdDecode2k)
    rows.push(`| P/D decode @ ${d.batch} seqs, 2000 in / 2000 out (mean ctx ${Math.round(d.meanContext)}): ITL | ${d.itlMs.toFixed(2)} ms |`);
  if (c.docsSample) {
    const r = c.docsSample;
    rows.push(`| Docs sample replay (10 prompts at once): TTFT / TPOT / ITL | ${r.ttftMs.toFixed(1)} / ${r.tpotMs.toFixed(2)} / ${r.itlMs.toFixed(2)} ms |`);
    rows.push(`| Docs sample replay: duration / output throughput | ${r.durationS.toFixed(2)} s / ${r.outputTokPerS.toFixed(0)} tok/s |`);
  }
  for (const l of c.closedLoop)
    rows.push(
      `| Closed loop, conc ${l.concurrency}, ${l.promptLen}/${l.outputLen}: TTFT / ITL (mixed steps) / output / total | ${l.ttftMs.toFixed(0)} ms / ${l.itlMs.toFixed(1)} ms (${l.itlMixedStepsMs.toFixed(0)} ms) / ${Math.round(l.outputTokPerS).toLocaleString('en-US')} / ${Math.round(l.totalTokPerS).toLocaleString('en-US')} tok/s (mean running ${l.meanRunning.toFixed(0)}, preemptions ${l.preemptions}) |`,
    );
  return rows.join('\n');
}

export function anchorTable(checks: readonly AnchorCheck[], withSource: boolean): string {
  const keys = Object.keys(SOURCES) as SourceKey[];
  const head = withSource ? '| Metric | Simulated | Published / derived | Deviation | Source |\n|---|---|---|---|---|' : '| Metric | Simulated | Published / derived | Deviation |\n|---|---|---|---|';
  const rows = checks.map((c) => {
    const base = `| ${c.metric} | ${fmt(c.simulated, c.unit)} ${c.unit} | ${fmtPublished(c.published, c.unit)} ${c.unit} | ${fmtDev(c)} |`;
    return withSource ? `${base} [${keys.indexOf(c.source) + 1}] |` : base;
  });
  return [head, ...rows].join('\n');
}

export interface CalibrationReport {
  readonly generatedBy: string;
  readonly profiles: readonly (ProfileCalibration & { readonly anchors: readonly AnchorCheck[] })[];
  readonly sources: typeof SOURCES;
}

export function runCalibration(names: readonly ProfileName[]): CalibrationReport {
  return {
    generatedBy: 'node --import tsx bench/calibrate/calibrate.ts',
    profiles: names.map((n) => {
      const c = calibrateProfile(n);
      return { ...c, anchors: (ANCHORS[n] ?? []).map((a) => checkAnchor(a, c)) };
    }),
    sources: SOURCES,
  };
}

function profileParams(name: ProfileName): string {
  const p = PROFILES[name] as Profile;
  const r = (x: number): string => String(Number(x.toPrecision(4)));
  return [
    `stepOverheadMs ${r(p.stepOverheadMs)}`,
    `prefillStepOverheadMs ${r(p.prefillStepOverheadMs)}`,
    `weightReadMs ${r(p.weightReadMs)} → ${r(p.weightReadMsSaturated)} (saturation ${p.weightSaturationSeqs} seqs)`,
    `kvReadMsPerToken ${r(p.kvReadMsPerToken)}`,
    `computeMsPerToken ${r(p.computeMsPerToken)}`,
    `attentionMsPerPair ${r(p.attentionMsPerPair)}`,
    `frontendMs ${r(p.frontendMs)}`,
    `maxNumBatchedTokens ${p.maxNumBatchedTokens}`,
    `numGpuBlocks ${p.numGpuBlocks}`,
  ].join(', ');
}

/** Prose that does not depend on the numbers: method, parameter changes, deviations worth a paragraph. */
const PROSE: Partial<Record<ProfileName, string>> = {
  'llama-3.1-8b-h100': `Parameter values are unchanged by this calibration. Decode lands between the first-principles
range (6–7 ms at batch 1) and the only published vLLM measurement with a comparable model (the docs
sample: 7.7 ms ITL, 7.9 ms TPOT), and inside the derived ranges at every larger batch. Prefill runs at
≈ 27 K tok/s, inside the derived 25–37 K tok/s. Single-request TTFT is far below the llm-d-inference-sim
reference, which the research note already calls pessimistic (it implies ≈ 4 K tok/s of prefill).

Deviations worth knowing:

- **Docs sample TTFT** is ≈ 30 % low: the simulator puts all ten prompts into one ≈ 50 ms prefill step,
  while the measured 72 ms includes the Python benchmark client, the API server and the network, of
  which we model only \`frontendMs\` = 2 ms. A router benchmark sees the router's own overhead on top of
  ours, not this gap.
- **The vllm-project/router P/D runs** report TPOT 6–7 ms on decode pods with 4–32 sequences of 1–2 K
  context; we give 7.7–10 ms there (+20–45 %), and 8.0 ms against their 7.25 ms at 2–4 K context (+11 %). Their GPU is not stated; the numbers need ≈ 3.3 TB/s of
  effective weight bandwidth, which an H100 (3.35 TB/s peak) does not reach in practice and an H200 does.
  We did not tune the H100 profile to them; a \`llama-3.1-8b-h200\` profile (weightReadMs ≈ 4.2) would be
  the way to reproduce them.`,
  'deepseek-v3-tp8-h200': `**Parameter changes in this calibration:** \`stepOverheadMs\` 20 → 24 and \`prefillStepOverheadMs\`
60 → 150 (profiles.ts; the cost-model formula is unchanged). With the old values batch-1 ITL was 21.4 ms
(below the 25–35 ms low-load estimate and 31 % below the 31 ms measured on 16× H100), idle TTFT was 109 ms
at 128 tokens (published ≈ 200 ms) and 220 / 357 ms at 1 K / 2 K (published 0.7–0.8 s), and the
saturated closed loop (concurrency 256, 1 K in / 1 K out) averaged 87 ms ITL, below the 100–300 ms
"saturated" figure. The larger fixed per-step cost stands for TP8 collectives, MoE dispatch and launch
time, which dominate a DeepSeek step at small batch; the 150 ms prefill-step cost is the research note's
own estimate of DeepSeek's prefill overhead. Now batch-1 ITL is 25.4 ms, TTFT at 128 tokens 203 ms and the
saturated ITL ≈ 110 ms, while saturated throughput stays inside the 5–20 K tok/s aggregate.
\`computeMsPerToken\` was left alone: it sets the saturated prefill throughput (≈ 6.4 K tok/s).

Deviations worth knowing:

- **TTFT at 1–2 K tokens** stays 35–55 % below the published 0.7–0.8 s. That figure is from 16× H100
  across two nodes, and matching it with this cost model's shape (fixed overhead + per-token compute)
  would take ≈ 0.4 ms/token, capping saturated prefill at ≈ 2.5 K tok/s and total throughput below the
  5–20 K tok/s aggregate. We keep the throughput anchor. Routers tested on this profile see faster long-
  prompt TTFT than a 16× H100 deployment would give; the ordering between policies is unaffected.
- **Pure decode at batch 256** costs ≈ 58 ms, below the 100–300 ms "saturated" figure, which describes
  a server whose steps also carry prefill chunks. In the closed loop a step that carries a prefill chunk
  (up to 8192 tokens) lasts ≈ 1.1 s and stretches every co-scheduled decode by as much; that is where the
  mean ITL of ≈ 110 ms comes from, and why P/D disaggregation pays off most on this profile.
- **Batch-1 ITL** is 18 % below the 31 ms measured on 16× H100; a single 8× H200 NVLink node has no
  inter-node collectives, so a lower figure is expected. It sits inside the 25–35 ms low-load estimate.`,
};

export function calibrationMarkdown(r: CalibrationReport): string {
  const keys = Object.keys(SOURCES) as SourceKey[];
  const out: string[] = [];
  out.push('# Simulator calibration');
  out.push('');
  out.push('<!-- Generated by `node --import tsx bench/calibrate/calibrate.ts`; edit calibrate.ts, not this file. -->');
  out.push('');
  out.push(
    `The simulated engine (engine.ts) runs one step at a time and each step lasts what the cost model
(\`stepDurationMs\` in profiles.ts) says for what it computes: fixed overheads plus the larger of memory
time (weights touched + KV read) and compute time (GEMMs + attention). This file sets what that engine
does, measured under a \`VirtualClock\` (simulated time only, deterministic), beside the published or
derived figures each profile is calibrated to. Raw numbers: \`calibration.json\`. A unit test
(\`test/unit/sim-calibration.test.ts\`) keeps the key anchors inside their ranges.

Method: TTFT is one request on an idle engine, including the HTTP layer's \`frontendMs\`, without network.
Decode ITL is measured once every prompt of the batch is computed, over ${FULL_PLAN.decodeTokens} pure-decode steps
from ${FULL_PLAN.decodePromptLen}-token prompts (context ${FULL_PLAN.decodePromptLen}–${FULL_PLAN.decodePromptLen + FULL_PLAN.decodeTokens}). Prefill throughput is prompts
arriving at once with \`max_tokens: 1\`, so every step is a full \`max_num_batched_tokens\` chunk. A closed
loop keeps N clients busy with unique 1 K-token prompts and 1 K-token answers (\`ignore_eos\`).
"Deviation" is from the point (≤ 5 % counts as a match) or from the nearer end of a range.`,
  );
  for (const p of r.profiles) {
    out.push('');
    out.push(`## ${p.profile}`);
    out.push('');
    out.push(`${p.description}. Parameters: ${profileParams(p.profile)}.`);
    out.push('');
    out.push('### Simulated');
    out.push('');
    out.push(measurementTable(p));
    if (p.anchors.length > 0) {
      out.push('');
      out.push('### Against published and derived figures');
      out.push('');
      out.push(anchorTable(p.anchors, true));
      const notes = p.anchors.filter((a) => a.note);
      if (notes.length > 0) {
        out.push('');
        out.push('Where and why the simulated number deviates:');
        out.push('');
        for (const a of notes) out.push(`- *${a.metric}* (${a.deviationPct >= 0 ? '+' : ''}${a.deviationPct.toFixed(0)} %): ${a.note}`);
      }
    }
    const prose = PROSE[p.profile];
    if (prose) {
      out.push('');
      out.push('### Assessment');
      out.push('');
      out.push(prose);
    }
  }
  out.push('');
  out.push('## Sources');
  out.push('');
  keys.forEach((k, i) => out.push(`${i + 1}. ${SOURCES[k]}`));
  out.push('');
  out.push(
    'Nothing here was measured on a GPU: the "published" figures are third-party or documentation numbers and first-principles derivations collected in `../shared/research/vllm-protocol.md` §4 and `vllm-router.md` §8.3.',
  );
  out.push('');
  return out.join('\n');
}

function consoleSummary(r: CalibrationReport): string {
  const out: string[] = [];
  for (const p of r.profiles) {
    out.push(`## ${p.profile}`, '', measurementTable(p), '');
    if (p.anchors.length > 0) out.push(anchorTable(p.anchors, false), '');
  }
  return out.join('\n');
}

async function main(argv: readonly string[]): Promise<void> {
  const write = !argv.includes('--no-write');
  const only = argv.find((a) => a.startsWith('--profile='))?.slice('--profile='.length);
  const names = (Object.keys(PLANS) as ProfileName[]).filter((n) => !only || n === only);
  const report = runCalibration(names);
  process.stdout.write(consoleSummary(report));
  if (!write) return;
  const here = dirname(fileURLToPath(import.meta.url));
  writeFileSync(join(here, 'calibration.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(here, 'CALIBRATION.md'), calibrationMarkdown(report));
  process.stdout.write(`wrote ${join(here, 'calibration.json')} and ${join(here, 'CALIBRATION.md')}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main(process.argv.slice(2));
}
