// Whether to disaggregate one request (decode first, as llm-d's prefix-based decider, plus a
// comparison of the prefill pool's queue with the decode worker's own: docs/ARCHITECTURE.md#disaggregated-or-aggregated-per-request). After the decode
// worker is chosen, prefill runs elsewhere only when enough of the prompt is not already cached
// on that decode worker, when some prefill worker has room, and when a prefill worker would start
// the prompt no later than the decode worker itself would. Short or cached prompts are cheaper to
// prefill where they will be decoded than to move as KV; and when the prefill pool is backed up
// by more than a full prefill step beyond the decode worker's own queue, computing the prompt
// where it will be decoded gives the earlier first token (at the price of that worker's decodes
// sharing steps with the prompt, which is why the margin is a whole step).

export const DECISIONS = ['disaggregate', 'short_prompt', 'prefill_saturated', 'decode_sooner', 'no_prefill_worker'] as const;
export type Decision = (typeof DECISIONS)[number];

export interface DeciderConfig {
  /** Disaggregate only when at least this many prompt tokens are not cached on the decode worker. */
  readonly thresholdTokens: number;
  /** A prefill worker with this many waiting requests (reported plus in flight) is saturated. */
  readonly prefillMaxWaiting: number;
  /** …or with this KV-cache usage (0–1). */
  readonly prefillMaxKvUsage: number;
  /**
   * Serve whole on the decode worker when every prefill worker has more than this many prompt
   * tokens queued beyond the decode worker's own queue (the router's token load). Null: never.
   */
  readonly localMarginTokens: number | null;
}

/** vLLM's default max_num_batched_tokens on H100-class GPUs: one full prefill step. */
export const DECIDER_DEFAULTS: DeciderConfig = Object.freeze({ thresholdTokens: 128, prefillMaxWaiting: 16, prefillMaxKvUsage: 0.95, localMarginTokens: 8192 });

export interface PrefillLoad {
  readonly waiting: number;
  readonly kvUsage: number;
  readonly inflight: number;
  /** Prompt tokens queued on the worker (the router's token load). */
  readonly queuedTokens?: number;
}

/**
 * `decodeQueuedTokens`: prompt tokens already queued on the chosen decode worker (its own
 * whole requests), against which the prefill pool's queues are weighed.
 */
export function decide(c: DeciderConfig, promptTokens: number, cachedOnDecode: number, prefill: readonly PrefillLoad[], decodeQueuedTokens = 0): Decision {
  if (prefill.length === 0) return 'no_prefill_worker';
  if (promptTokens - cachedOnDecode < c.thresholdTokens) return 'short_prompt';
  const open = prefill.filter((p) => p.waiting + p.inflight < c.prefillMaxWaiting && p.kvUsage < c.prefillMaxKvUsage);
  if (open.length === 0) return 'prefill_saturated';
  if (c.localMarginTokens !== null) {
    const shortest = Math.min(...open.map((p) => p.queuedTokens ?? 0));
    if (shortest > decodeQueuedTokens + c.localMarginTokens) return 'decode_sooner';
  }
  return 'disaggregate';
}
