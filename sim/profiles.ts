// Hardware/model profiles for the simulated vLLM engine, and the per-step cost model.
// Derivations and the published figures each profile is calibrated to: bench/calibrate/CALIBRATION.md.

/** What one engine step computes; the cost model turns it into a duration. */
export interface StepShape {
  /** Tokens computed in this step that belong to prompts (or recomputation after preemption). */
  readonly prefillTokens: number;
  /** Sequences that compute exactly one new token (decode). */
  readonly decodeSeqs: number;
  /** Sum over scheduled sequences of the context whose KV the step reads. */
  readonly contextTokens: number;
  /** Sum over prefill tokens of their position in the sequence (quadratic attention work). */
  readonly attentionPairs: number;
}

export interface Profile {
  readonly name: string;
  readonly description: string;
  readonly model: string;
  readonly maxModelLen: number;
  readonly blockSize: number;
  readonly numGpuBlocks: number;
  readonly maxNumSeqs: number;
  readonly maxNumBatchedTokens: number;
  readonly tpSize: number;
  /** Launch, scheduling and collective-communication time paid by every step. */
  readonly stepOverheadMs: number;
  /** Extra time for a step that carries any prefill (activation all-to-all, larger kernels). */
  readonly prefillStepOverheadMs: number;
  /** Time to stream the weights that a step touches at batch 1 … saturation (MoE touches more experts as the batch grows). */
  readonly weightReadMs: number;
  readonly weightReadMsSaturated: number;
  /** Sequences at which the touched-weight fraction reaches about 63 % of the way to saturation. */
  readonly weightSaturationSeqs: number;
  /** KV bytes per token divided by effective memory bandwidth. */
  readonly kvReadMsPerToken: number;
  /** Linear (GEMM) compute per computed token. */
  readonly computeMsPerToken: number;
  /** Attention compute per (query token × context token) pair. */
  readonly attentionMsPerPair: number;
  /** Tokenisation, request setup and detokenisation outside the engine loop (paid once before the first step). */
  readonly frontendMs: number;
  /** NIXL/P2P KV pull: fixed setup plus a per-token transfer time. */
  readonly kvTransferSetupMs: number;
  readonly kvTransferMsPerToken: number;
}

export const PROFILES = {
  'llama-3.1-8b-h100': {
    name: 'llama-3.1-8b-h100',
    description: 'Llama-3.1-8B-Instruct, BF16, 1x H100 80GB SXM',
    model: 'meta-llama/Llama-3.1-8B-Instruct',
    maxModelLen: 131072,
    blockSize: 16,
    numGpuBlocks: 27_000,
    maxNumSeqs: 1024,
    maxNumBatchedTokens: 8192,
    tpSize: 1,
    stepOverheadMs: 1.0,
    prefillStepOverheadMs: 0.5,
    weightReadMs: 6.4,
    weightReadMsSaturated: 6.4,
    weightSaturationSeqs: 1,
    kvReadMsPerToken: 131_072 / 2.5e9,
    computeMsPerToken: 16.06e9 / 450e9,
    attentionMsPerPair: (4 * 32 * 4096) / 450e9,
    frontendMs: 2.0,
    kvTransferSetupMs: 1.0,
    kvTransferMsPerToken: 0.003,
  },
  'deepseek-v3-tp8-h200': {
    name: 'deepseek-v3-tp8-h200',
    description: 'DeepSeek-V3 671B MoE (37B active), FP8, TP8 on 8x H200',
    model: 'deepseek-ai/DeepSeek-V3',
    maxModelLen: 163840,
    blockSize: 16,
    numGpuBlocks: 31_000,
    maxNumSeqs: 1024,
    maxNumBatchedTokens: 8192,
    tpSize: 8,
    stepOverheadMs: 24.0,
    prefillStepOverheadMs: 150.0,
    weightReadMs: 1.4,
    weightReadMsSaturated: 25.0,
    weightSaturationSeqs: 32,
    kvReadMsPerToken: 70_272 / 3.36e9,
    computeMsPerToken: (74e9 / 1.4e12) * 2.5,
    attentionMsPerPair: (4 * 61 * 7168) / 1.4e12,
    frontendMs: 4.0,
    kvTransferSetupMs: 2.0,
    kvTransferMsPerToken: 0.0015,
  },
  /** A small, fast engine for tests and the local stack: few blocks so KV pressure is easy to cause. */
  tiny: {
    name: 'tiny',
    description: 'A toy engine for tests: 2 ms steps, 512 blocks of 16',
    model: 'sim-tiny',
    maxModelLen: 4096,
    blockSize: 16,
    numGpuBlocks: 512,
    maxNumSeqs: 64,
    maxNumBatchedTokens: 2048,
    tpSize: 1,
    stepOverheadMs: 1.0,
    prefillStepOverheadMs: 0.5,
    weightReadMs: 1.0,
    weightReadMsSaturated: 1.0,
    weightSaturationSeqs: 1,
    kvReadMsPerToken: 0.000_05,
    computeMsPerToken: 0.01,
    attentionMsPerPair: 0.000_001,
    frontendMs: 0.5,
    kvTransferSetupMs: 0.5,
    kvTransferMsPerToken: 0.001,
  },
} as const satisfies Record<string, Profile>;

export type ProfileName = keyof typeof PROFILES;
export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];
export const DEFAULT_PROFILE: ProfileName = 'llama-3.1-8b-h100';

export function isProfileName(name: string): name is ProfileName {
  return Object.hasOwn(PROFILES, name);
}

/**
 * Duration of one engine step. Decode is memory-bound (weights + KV of every running sequence),
 * prefill is compute-bound; a step takes the longer of the two plus fixed overheads, which is
 * why a prefill chunk sharing a step with decodes stretches their inter-token latency.
 */
export function stepDurationMs(p: Profile, s: StepShape): number {
  const seqs = s.decodeSeqs + (s.prefillTokens > 0 ? 1 : 0);
  if (seqs === 0 && s.prefillTokens === 0) return 0;
  const touched = 1 - Math.exp(-Math.max(0, s.decodeSeqs + Math.max(s.prefillTokens, 0) - 1) / p.weightSaturationSeqs);
  const weights = p.weightReadMs + (p.weightReadMsSaturated - p.weightReadMs) * touched;
  const memory = weights + s.contextTokens * p.kvReadMsPerToken;
  const compute = (s.prefillTokens + s.decodeSeqs) * p.computeMsPerToken + s.attentionPairs * p.attentionMsPerPair;
  const overhead = p.stepOverheadMs + (s.prefillTokens > 0 ? p.prefillStepOverheadMs : 0);
  return overhead + Math.max(memory, compute);
}

/** Time to pull `tokens` tokens of KV from a remote prefill worker. */
export function kvTransferMs(p: Profile, tokens: number): number {
  return p.kvTransferSetupMs + tokens * p.kvTransferMsPerToken;
}

/**
 * The same engine, `k` times slower in every duration. A benchmark of a large fleet on a small
 * machine runs its simulated workers dilated (and its offered load k times lower): queueing and
 * batching behave exactly as at full speed in scaled time, while the simulator emits k times fewer
 * tokens per second. Latencies measured against a dilated fleet are divided by k to report them.
 */
export function dilated(p: Profile, k: number): Profile {
  if (!(k > 0)) throw new RangeError(`time scale must be > 0, got ${k}`);
  if (k === 1) return p;
  return {
    ...p,
    stepOverheadMs: p.stepOverheadMs * k,
    prefillStepOverheadMs: p.prefillStepOverheadMs * k,
    weightReadMs: p.weightReadMs * k,
    weightReadMsSaturated: p.weightReadMsSaturated * k,
    kvReadMsPerToken: p.kvReadMsPerToken * k,
    computeMsPerToken: p.computeMsPerToken * k,
    attentionMsPerPair: p.attentionMsPerPair * k,
    frontendMs: p.frontendMs * k,
    kvTransferSetupMs: p.kvTransferSetupMs * k,
    kvTransferMsPerToken: p.kvTransferMsPerToken * k,
  };
}
