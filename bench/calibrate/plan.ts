// What each profile is measured on (a plan of measurements per profile), and running a plan.
import { PROFILES, type ProfileName } from '../../sim/profiles.ts';
import { closedLoop, measureDecode, measurePrefill, measureTtft, replayDocsSample, type ClosedLoopResult, type DecodeResult, type PrefillResult, type ReplayResult } from './measure.ts';

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

export const PLANS: Partial<Record<ProfileName, Plan>> = {
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
