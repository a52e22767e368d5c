// The policy contract. A policy is a small object: given the candidate workers (with their load
// views) and the request's features, it picks one. Randomness comes in as an argument (seeded in
// tests); stateful policies (counters, rings) keep state in their instance, never in module globals.
import type { WorkerView } from '../registry.ts';

export interface Candidate {
  readonly worker: WorkerView;
  /** Requests in flight to this worker from every scheduler replica. */
  readonly inflight: number;
}

export interface RequestFeatures {
  readonly model: string;
  /** Session / user / request hash key for sticky policies (see the ingress's routing-key rules). */
  readonly routingKey: string | null;
}

export interface PickContext {
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

export interface Policy {
  readonly type: string;
  /** Inputs the policy reads, for docs and explain records (as llm-d's plugins declare `Consumes`). */
  readonly consumes: readonly string[];
  /** Picks one of `candidates` (never empty), or undefined when none is acceptable. */
  pick(candidates: readonly Candidate[], req: RequestFeatures, ctx: PickContext): Candidate | undefined;
}

/** The load a worker reports (running + waiting) plus what is in flight to it from the router. */
export function loadOf(c: Candidate): number {
  return c.worker.load.running + c.worker.load.waiting + c.inflight;
}
