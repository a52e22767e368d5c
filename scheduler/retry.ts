// Retry timing: exponential backoff with full jitter (AWS architecture blog, "Exponential
// Backoff And Jitter"): the n-th wait is uniform in [0, min(max, initial × multiplier^(n-1))].
// Defaults near the vLLM Router's (vllm-project/router's docs/cli_reference.md): 5 attempts, 50 ms, 30 s, ×1.5.

export interface RetryOptions {
  /** Total attempts, the first included (1 = no retries). */
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly multiplier: number;
}

export const RETRY_DEFAULTS: RetryOptions = Object.freeze({ maxAttempts: 5, initialBackoffMs: 50, maxBackoffMs: 30_000, multiplier: 1.5 });

/** The wait before retry number `n` (1 = the first retry). */
export function backoffMs(n: number, o: RetryOptions, random: () => number): number {
  const cap = Math.min(o.maxBackoffMs, o.initialBackoffMs * o.multiplier ** Math.max(0, n - 1));
  return random() * cap;
}

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
