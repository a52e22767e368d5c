// The published or derived figures each profile is held to, with their sources, and the check of
// one simulated number against one of them.
import { kvTransferMs, PROFILES, type ProfileName } from '../../sim/profiles.ts';
import type { ClosedLoopResult, DecodeResult } from './measure.ts';
import type { ProfileCalibration } from './plan.ts';

export const SOURCES = {
  docs: 'vLLM docs, `docs/benchmarking/cli.md`: sample `vllm bench serve` run, Hermes-3-Llama-3.1-8B, 10 ShareGPT prompts, request rate inf, GPU unstated (github.com/vllm-project/vllm)',
  derived8b: 'Derived from first principles for Llama-3.1-8B in BF16 on one H100 (16.1 GB weights at 2.3–2.7 TB/s, 128 KiB KV per token, 16 GFLOP/token at 400–600 TFLOPS)',
  llmdSim:
    'llm-d-inference-sim reference values for 8B on H100 (its latency reference tables, github.com/llm-d/llm-d-inference-sim: ITL 10–15 ms at batch 1; prefill-overhead 25–40 ms + 0.15–0.30 ms/token, "8b-h100-balanced" 30 ms + 0.25 ms/token)',
  routerLlmd:
    'vllm-project/router `scripts/k8s/llama3/llm-d/ROUTER_BENCHMARK_RESULTS.md` (github.com/vllm-project/router): 8P+8D Llama-3.1-8B, 1000/1000 tokens, TPOT 5.95/6.37/7.15/6.90 ms and mean TTFT 79/116/231/381 ms at concurrency 32/64/128/256; GPU unstated',
  routerDp8:
    'vllm-project/router `scripts/k8s/llama3.1/BENCHMARK_RESULTS.md` (github.com/vllm-project/router): DP8 prefill + DP8 decode, 2000/2000 tokens, concurrency 32: TPOT 7.25 ms, mean TTFT 280 ms; GPU unstated',
  dsR1H100: 'Third-party report, DeepSeek-R1-0528 on 16× H100 at concurrency 1 (its address was not kept): TPOT ≈ 31 ms, TTFT ≈ 0.2 s (128-token input), ≈ 0.7–0.8 s (1–2 K input)',
  gpustack: 'GPUStack page, DeepSeek on 8× H200 at high concurrency (its address was not kept): 5–20 K total tok/s, TPOT in the hundreds of ms when saturated',
  dsEstimate: 'Our rough estimate for the simulator profile, before calibration: ITL 25–35 ms at low load rising to 100–300 ms saturated; prefill ≈ 150 ms + 0.3–0.5 ms/token at low concurrency',
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
    {
      metric: 'Docs sample replay: mean TTFT',
      value: (c) => c.docsSample!.ttftMs,
      unit: 'ms',
      published: 71.54,
      source: 'docs',
      note: 'The 10 prompts (1369 tokens) share one prefill step of ≈ 50 ms; the published TTFT also carries the Python client, the API server and the network, which the simulator models only as `frontendMs` (2 ms). Per-request prompt lengths are not published, so our split is assumed.',
    },
    {
      metric: 'Docs sample replay: mean TPOT',
      value: (c) => c.docsSample!.tpotMs,
      unit: 'ms',
      published: 7.91,
      source: 'docs',
      note: 'Just outside ±5 %: the per-step overhead (1 ms) and weight time (6.4 ms) reproduce the published ITL (7.74 ms) within 3 %; the unpublished GPU and answer lengths leave this much uncertainty.',
    },
    { metric: 'Docs sample replay: mean ITL', value: (c) => c.docsSample!.itlMs, unit: 'ms', published: 7.74, source: 'docs' },
    {
      metric: 'Docs sample replay: duration',
      value: (c) => c.docsSample!.durationS,
      unit: 's',
      published: 5.78,
      source: 'docs',
      note: 'Depends on the longest answer, which is not published (we assume 720 tokens).',
    },
    {
      metric: 'ITL @ batch 1 (ctx 1–1.5 K)',
      value: (c) => dec(c, 1).itlMs,
      unit: 'ms',
      published: [6, 7],
      source: 'derived8b',
      note: 'We keep 1 ms of per-step CPU/launch overhead plus 6.4 ms of weight streaming (2.5 TB/s, 75 % of peak), which puts batch 1 at the docs sample’s measured 7.7 ms rather than the 6–7 ms first-principles range.',
    },
    {
      metric: 'ITL @ batch 1 (ctx 1–1.5 K)',
      value: (c) => dec(c, 1).itlMs,
      unit: 'ms',
      published: [10, 15],
      source: 'llmdSim',
      note: 'We read the llm-d-inference-sim value as conservative: the vLLM docs run measured 7.7 ms.',
    },
    { metric: 'ITL @ batch 16', value: (c) => dec(c, 16).itlMs, unit: 'ms', published: [7, 10], source: 'derived8b' },
    { metric: 'ITL @ batch 64', value: (c) => dec(c, 64).itlMs, unit: 'ms', published: [10, 20], source: 'derived8b' },
    { metric: 'ITL @ batch 128', value: (c) => dec(c, 128).itlMs, unit: 'ms', published: [13, 34], source: 'derived8b' },
    { metric: 'ITL @ batch 256', value: (c) => dec(c, 256).itlMs, unit: 'ms', published: [20, 60], source: 'derived8b' },
    { metric: 'Prefill throughput, 1 K prompts', value: (c) => pre(c, 1024), unit: 'tok/s', published: [25_000, 37_000], source: 'derived8b' },
    { metric: 'Prefill throughput, 4 K prompts', value: (c) => pre(c, 4096), unit: 'tok/s', published: [25_000, 37_000], source: 'derived8b' },
    {
      metric: 'TTFT, 128-token prompt, idle',
      value: (c) => ttft(c, 128),
      unit: 'ms',
      published: [25 + 128 * 0.15, 40 + 128 * 0.3],
      source: 'llmdSim',
      note: 'llm-d-inference-sim charges a fixed 25–40 ms prefill overhead per request; vLLM on an H100 computes a 128-token prompt in a single ≈ 8 ms step (one weight pass), so the sim’s prefill model is pessimistic here. We keep the engine-step model.',
    },
    {
      metric: 'TTFT, 1024-token prompt, idle',
      value: (c) => ttft(c, 1024),
      unit: 'ms',
      published: [25 + 1024 * 0.15, 40 + 1024 * 0.3],
      source: 'llmdSim',
      note: 'Same reason: the sim’s 0.15–0.30 ms/token is ≈ 4 K tok/s, against ≈ 27 K tok/s for a compute-bound H100 prefill.',
    },
    {
      metric: 'P/D decode pod: ITL @ 4 seqs, ctx 1–2 K (router conc 32)',
      value: (c) => dec(c, 4, 'pdDecode').itlMs,
      unit: 'ms',
      published: 5.95,
      source: 'routerLlmd',
      note: 'The router benchmark’s GPU is not stated; 5.95 ms at 4 sequences needs ≈ 3.3 TB/s of effective bandwidth for 16 GB of weights, i.e. an H200-class GPU (or a newer vLLM with less step overhead). Our profile is held to the H100 figures above.',
    },
    {
      metric: 'P/D decode pod: ITL @ 16 seqs, ctx 1–2 K (router conc 128)',
      value: (c) => dec(c, 16, 'pdDecode').itlMs,
      unit: 'ms',
      published: 7.15,
      source: 'routerLlmd',
      note: 'As above (GPU unstated).',
    },
    {
      metric: 'P/D decode pod: ITL @ 32 seqs, ctx 1–2 K (router conc 256)',
      value: (c) => dec(c, 32, 'pdDecode').itlMs,
      unit: 'ms',
      published: 6.9,
      source: 'routerLlmd',
      note: 'As above; at concurrency 256 that run was prefill-bound (TTFT 381 ms, throughput fell), so decode pods likely ran fewer than 32 sequences each.',
    },
    {
      metric: 'P/D decode (DP8) @ 4 seqs per GPU, ctx 2–4 K (router conc 32)',
      value: (c) => dec(c, 4, 'pdDecode2k').itlMs,
      unit: 'ms',
      published: 7.25,
      source: 'routerDp8',
      note: 'GPU unstated, as above; the gap is smaller at 2–4 K context, where KV reads weigh more.',
    },
    {
      metric: 'P/D TTFT estimate, 1000-token prompt (prefill + KV pull + 1 decode step)',
      value: (c) => ttft(c, 1024) + kvTransferMs(PROFILES['llama-3.1-8b-h100'], 1000) + dec(c, 4, 'pdDecode').itlMs,
      unit: 'ms',
      published: [59.63, 79.26],
      source: 'routerLlmd',
      note: 'Published median 59.6 / mean 79.3 ms at concurrency 32 include two router hops and queueing behind other prompts on the prefill pods, which an idle-engine estimate leaves out.',
    },
  ],
  'deepseek-v3-tp8-h200': [
    {
      metric: 'ITL @ batch 1 (ctx 1–1.5 K)',
      value: (c) => dec(c, 1).itlMs,
      unit: 'ms',
      published: 31,
      source: 'dsR1H100',
      note: 'The published figure is for 16× H100 across two nodes (inter-node collectives); this profile is one 8× H200 NVLink node, so a somewhat lower ITL is expected. It sits inside the 25–35 ms low-load estimate.',
    },
    { metric: 'ITL @ batch 1 (ctx 1–1.5 K)', value: (c) => dec(c, 1).itlMs, unit: 'ms', published: [25, 35], source: 'dsEstimate' },
    {
      metric: 'ITL @ batch 16',
      value: (c) => dec(c, 16).itlMs,
      unit: 'ms',
      published: [25, 35],
      source: 'dsEstimate',
      note: 'MoE decode touches more experts as the batch grows (weightSaturationSeqs = 32), so low-load ITL rises quickly above batch ≈ 8.',
    },
    {
      metric: 'ITL @ batch 256, pure decode',
      value: (c) => dec(c, 256).itlMs,
      unit: 'ms',
      published: [100, 300],
      source: 'dsEstimate',
      note: 'A pure-decode step at batch 256 costs ≈ 58 ms. The 100–300 ms "saturated" figure describes a server whose steps also carry prefill chunks; the closed-loop rows below reproduce it.',
    },
    { metric: 'TTFT, 128-token prompt, idle', value: (c) => ttft(c, 128), unit: 'ms', published: 200, source: 'dsR1H100' },
    {
      metric: 'TTFT, 1024-token prompt, idle',
      value: (c) => ttft(c, 1024),
      unit: 'ms',
      published: [700, 800],
      source: 'dsR1H100',
      note: 'Matching 0.7–0.8 s at 1–2 K with a per-token prefill cost would need ≈ 0.4 ms/token (≈ 2.5 K tok/s), which would cap saturated prefill far below the 5–20 K tok/s aggregate reported for 8× H200. The profile keeps the throughput anchor; the published latency was also measured on 16× H100 across two nodes.',
    },
    { metric: 'TTFT, 2048-token prompt, idle', value: (c) => ttft(c, 2048), unit: 'ms', published: [700, 800], source: 'dsR1H100', note: 'As above.' },
    { metric: 'Closed loop, conc 256, 1 K/1 K: mean ITL (≈ TPOT)', value: (c) => loop(c, 256).itlMs, unit: 'ms', published: [100, 300], source: 'dsEstimate' },
    {
      metric: 'Closed loop, conc 256, 1 K/1 K: mean ITL (≈ TPOT)',
      value: (c) => loop(c, 256).itlMs,
      unit: 'ms',
      published: [100, 1000],
      source: 'gpustack',
      note: '"Hundreds of ms" read as 100–1000 ms.',
    },
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
