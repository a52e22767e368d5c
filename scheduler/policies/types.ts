// The policy contract. A policy is a small object: given the candidate workers (with their load
// views) and the request's features, it picks one. Randomness comes in as an argument (seeded in
// tests); stateful policies (counters, rings) keep state in their instance, never in module globals.
import type { TokenLoad } from '../inflight.ts';
import type { WorkerView } from '../registry.ts';

export interface Candidate {
  readonly worker: WorkerView;
  /** Requests in flight to this worker from every scheduler replica. */
  readonly inflight: number;
  /** Prompt tokens those requests still have to compute there, and KV tokens they hold while decoding. */
  readonly tokens?: TokenLoad | undefined;
}

/**
 * Candidates as a policy gets them. The scheduler's lists also know the sum of `loadOf` over
 * themselves, kept as loads change, so that a policy that needs it does not read every worker.
 */
export type CandidateList = readonly Candidate[] & { readonly loadTotal?: number };

export interface RequestFeatures {
  readonly model: string;
  /** Session / user / request hash key for sticky policies (see the ingress's routing-key rules). */
  readonly routingKey: string | null;
  /**
   * Fraction (0–1) of the prompt's leading blocks the router believes a worker has cached (its
   * approximate prefix index). Provided to policies that consume `prefix`. `index`, the worker's
   * position in the candidates the policy was given, is a hint that spares a lookup per worker
   * (a thousand of them on every pick); a wrong one costs only the lookup.
   */
  readonly prefixMatch?: ((workerId: string, index?: number) => number) | undefined;
  /** The prompt's length in tokens (estimated from its characters unless it came as token ids). */
  readonly promptTokens?: number | undefined;
}

export interface PickContext {
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

export interface Policy {
  readonly type: string;
  /** Inputs the policy reads, for docs and explain records (as llm-d's plugins declare `Consumes`). */
  readonly consumes: readonly string[];
  /**
   * Picks one of `candidates` (never empty), or undefined when none is acceptable. The scheduler
   * passes the same array from pick to pick while the fleet stays the same, and never changes one
   * it has passed: a policy may key a cache on it. Its load figures are read when accessed.
   */
  pick(candidates: CandidateList, req: RequestFeatures, ctx: PickContext): Candidate | undefined;
}

/** The load a worker reports (running + waiting) plus what is in flight to it from the router. */
export function loadOf(c: Candidate): number {
  return c.worker.load.running + c.worker.load.waiting + c.inflight;
}

/** `loadOf` summed over the candidates: the list's own total when it keeps one (all integers, so the same sum). */
export function totalLoad(candidates: CandidateList): number {
  if (candidates.loadTotal !== undefined) return candidates.loadTotal;
  let total = 0;
  for (const c of candidates) total += loadOf(c);
  return total;
}

/** A stage that drops candidates (llm-d's Filter). It must not return an empty list when given a non-empty one unless none is acceptable. */
export interface Filter {
  readonly type: string;
  readonly consumes: readonly string[];
  filter(candidates: readonly Candidate[], req: RequestFeatures): readonly Candidate[];
}

/** Scores every candidate in [0, 1] (llm-d's Scorer); higher is better. */
export interface Scorer {
  readonly type: string;
  readonly consumes: readonly string[];
  /** Affinity (stickiness), Distribution (spreading) or Balance, as llm-d categorises scorers. */
  readonly category: 'affinity' | 'distribution' | 'balance';
  score(candidates: readonly Candidate[], req: RequestFeatures): readonly number[];
}

/** Chooses among scored candidates (llm-d's Picker). */
export interface Picker {
  readonly type: string;
  pick(candidates: readonly Candidate[], scores: readonly number[], ctx: PickContext): Candidate | undefined;
}
