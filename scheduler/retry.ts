// Retry options and timing: attempts, and between them exponential backoff with full jitter
// (runtime/backoff.ts). Defaults near the vLLM Router's (vllm-project/router's
// docs/cli_reference.md): 5 attempts, 50 ms, 30 s, ×1.5.
import type { Backoff } from '../runtime/backoff.ts';

export interface RetryOptions extends Backoff {
  /** Total attempts, the first included (1 = no retries). */
  readonly maxAttempts: number;
}

export const RETRY_DEFAULTS: RetryOptions = Object.freeze({ maxAttempts: 5, initialBackoffMs: 50, maxBackoffMs: 30_000, multiplier: 1.5 });

/** Resolves after `ms`, or early (false) when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
