// P/D orchestration options, with their defaults in one place.
import { DECIDER_DEFAULTS, type DeciderConfig } from './decider.ts';

export interface PdConfig {
  readonly decider: DeciderConfig;
  /**
   * When a prefill leg fails: `retry` tries other prefill workers (then serves the request whole
   * on the decode worker when none is left); `decode` serves it whole on the decode worker at once.
   */
  readonly onPrefillFailure: 'retry' | 'decode';
  /**
   * With no ready prefill worker, requests are served whole by decode workers (a degraded fleet
   * still answers); `strict` answers 503 instead.
   */
  readonly strict: boolean;
  /** How long a prefill worker holds KV for a decode worker (vLLM's kv_lease_duration, 30 s). */
  readonly kvLeaseMs: number;
}

export const PD_DEFAULTS: PdConfig = Object.freeze({ decider: DECIDER_DEFAULTS, onPrefillFailure: 'retry', strict: false, kvLeaseMs: 30_000 });
