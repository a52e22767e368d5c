// Whether to disaggregate one request (llm-d's prefix-based decider, decode first): after the
// decode worker is chosen, prefill runs elsewhere only when enough of the prompt is not already
// cached on that decode worker, and only when some prefill worker has room. Short or cached
// prompts are cheaper to prefill where they will be decoded than to move as KV.

export const DECISIONS = ['disaggregate', 'short_prompt', 'prefill_saturated', 'no_prefill_worker'] as const;
export type Decision = (typeof DECISIONS)[number];

export interface DeciderConfig {
  /** Disaggregate only when at least this many prompt tokens are not cached on the decode worker. */
  readonly thresholdTokens: number;
  /** A prefill worker with this many waiting requests (reported plus in flight) is saturated. */
  readonly prefillMaxWaiting: number;
  /** …or with this KV-cache usage (0–1). */
  readonly prefillMaxKvUsage: number;
}

export const DECIDER_DEFAULTS: DeciderConfig = Object.freeze({ thresholdTokens: 128, prefillMaxWaiting: 16, prefillMaxKvUsage: 0.95 });

export interface PrefillLoad {
  readonly waiting: number;
  readonly kvUsage: number;
  readonly inflight: number;
}

export function decide(c: DeciderConfig, promptTokens: number, cachedOnDecode: number, prefill: readonly PrefillLoad[]): Decision {
  if (prefill.length === 0) return 'no_prefill_worker';
  if (promptTokens - cachedOnDecode < c.thresholdTokens) return 'short_prompt';
  if (prefill.every((p) => p.waiting + p.inflight >= c.prefillMaxWaiting || p.kvUsage >= c.prefillMaxKvUsage)) return 'prefill_saturated';
  return 'disaggregate';
}
