// When is a worker saturated: past it, sending it more work only lengthens vLLM's own queue.
// Heartbeats say how many requests a worker has waiting and how full its KV cache is, but they
// are up to one interval old, and a router that trusts them alone sends a whole interval's
// traffic to a worker that filled up just after its beat (llm-d's docs call it the thundering
// herd). So while a worker's last heartbeat said it was queueing, every request the router
// fleet started on it since that beat counts as one more waiting, and every one that ended as
// one less: the estimate moves with the router's own traffic at once, and the next beat resets
// it. An optional cap on the router-wide requests in flight per worker bounds it regardless.
// Pure: in-flight counts come from the caller.
import type { WorkerView } from './registry.ts';

export interface SaturationLimits {
  /** A worker with this many requests waiting (estimated) is saturated. */
  readonly maxWaiting: number;
  /** …or with its KV cache this full (0–1). */
  readonly maxKvUsage: number;
  /** …or with this many requests in flight from every replica; null: no cap. */
  readonly maxInFlight: number | null;
  /**
   * …or with this many prompt tokens sent to it by every replica and not computed yet (the
   * router's own prediction of its prefill queue, current at once); null: no cap.
   */
  readonly maxQueuedPromptTokens: number | null;
}

export class Saturation {
  readonly #limits: SaturationLimits;
  readonly #inflight: (workerId: string) => number;
  readonly #queuedPromptTokens: (workerId: string) => number;
  /** Router-wide requests in flight on each worker when its last heartbeat arrived. */
  readonly #atBeat = new Map<string, number>();

  constructor(limits: SaturationLimits, inflightTotal: (workerId: string) => number, queuedPromptTokens: (workerId: string) => number = () => 0) {
    this.#limits = limits;
    this.#inflight = inflightTotal;
    this.#queuedPromptTokens = queuedPromptTokens;
  }

  /** A heartbeat of `workerId` arrived: its queue estimate starts again from what it says. */
  beat(workerId: string): void {
    this.#atBeat.set(workerId, this.#inflight(workerId));
  }

  forget(workerId: string): void {
    this.#atBeat.delete(workerId);
  }

  /** Requests waiting on `w` as best known now. */
  waiting(w: WorkerView): number {
    if (w.load.waiting === 0) return 0;
    const now = this.#inflight(w.id);
    return Math.max(0, w.load.waiting + now - (this.#atBeat.get(w.id) ?? now));
  }

  saturated(w: WorkerView): boolean {
    const l = this.#limits;
    return (
      this.waiting(w) >= l.maxWaiting ||
      w.load.kvUsage >= l.maxKvUsage ||
      (l.maxInFlight !== null && this.#inflight(w.id) >= l.maxInFlight) ||
      (l.maxQueuedPromptTokens !== null && this.#queuedPromptTokens(w.id) >= l.maxQueuedPromptTokens)
    );
  }

  /** Every one of `workers` saturated (false for none: that is "no worker", not "too busy"). */
  allSaturated(workers: readonly WorkerView[]): boolean {
    if (workers.length === 0) return false;
    for (const w of workers) if (!this.saturated(w)) return false;
    return true;
  }
}
