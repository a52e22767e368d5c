// A finished prefill: the KV a decode worker fetches (NIXL) or receives (P2P-NCCL), and whether
// a decode retry may still use it instead of prefilling again.
import type { WorkerView } from '../registry.ts';
import type { Connector } from './legs.ts';

export interface Prefilled {
  readonly prefill: WorkerView;
  readonly connector: Connector;
  /** NIXL: the prefill answer's `kv_transfer_params`, for the decode leg verbatim. */
  readonly kvTransferParams: unknown;
  /** The X-Request-Id of both legs (P2P-NCCL: it names the two peers). */
  readonly requestIdHeader: string;
  /** The prefill worker's own prefix-cache hits: what one vLLM would have reported. */
  readonly cachedTokens: number | null;
  /** When the prefill answered (ms since the epoch). */
  readonly at: number;
}

/**
 * Whether another decode worker may still fetch `kv`. P2P-NCCL pushed it to the one decode worker
 * its request id named; NIXL lets any decode worker pull it while the prefill worker holds it
 * (`leaseMs`), with a fifth of the lease kept as margin for the fetch itself.
 */
export function reusable(kv: Prefilled, now: number, leaseMs: number): boolean {
  return kv.connector === 'nixl' && now - kv.at <= leaseMs * 0.8;
}
