// With the decode worker chosen, how to serve the request: prefill elsewhere ('pd'), compute the
// prompt on the decode worker ('whole'), or not at all ('none': no worker can). The decider
// (decider.ts) weighs the prompt and the prefill pool; this adds what the decode worker's
// connector allows and `--pd-strict`.
import type { PdConfig } from './config.ts';
import { decide, type Decision, type PrefillLoad } from './decider.ts';
import type { Connector } from './legs.ts';

export interface PlanInput {
  readonly promptTokens: number;
  /** Prompt tokens the prefix index believes the decode worker has cached. */
  readonly cachedOnDecode: number;
  /** Prompt tokens already queued on the decode worker (its own whole requests). */
  readonly decodeQueuedTokens: number;
  /** The decode worker's connector; null: it cannot take KV from a prefill worker. */
  readonly connector: Connector | null;
  /** The decode worker cannot compute a prompt (workers.ts). */
  readonly consumerOnly: boolean;
  /** The prefill workers it could pair with. */
  readonly prefill: readonly PrefillLoad[];
}

export interface Plan {
  readonly legs: 'pd' | 'whole' | 'none';
  readonly decision: Decision;
}

export function plan(c: Pick<PdConfig, 'decider' | 'strict'>, f: PlanInput): Plan {
  let decision = f.connector === null ? 'no_prefill_worker' : decide(c.decider, f.promptTokens, f.cachedOnDecode, f.prefill, f.decodeQueuedTokens);
  // A consumer-only worker cannot take the prompt whole: with a prefill worker to pair it with,
  // a short or cached prompt is disaggregated anyway; without one, it cannot be served.
  if (f.consumerOnly && decision !== 'disaggregate' && f.prefill.length > 0) decision = 'disaggregate';
  if (decision === 'no_prefill_worker' && (c.strict || f.consumerOnly)) return { legs: 'none', decision };
  return { legs: decision === 'disaggregate' ? 'pd' : 'whole', decision };
}
