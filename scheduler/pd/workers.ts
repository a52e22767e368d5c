// What a worker's KV connector lets it do in a disaggregated request.
import type { WorkerView } from '../registry.ts';
import type { Connector } from './legs.ts';

/** The connector a worker moves KV with; null when it has none the router can drive. */
export function connectorOf(w: WorkerView): Connector | null {
  return w.connector.kind === 'nixl' || w.connector.kind === 'p2p-nccl' ? w.connector.kind : null;
}

/**
 * A P2P-NCCL decode instance is a pure KV consumer: vLLM's connector refuses any request whose
 * id does not name a prefill peer to take the KV from, so it can never compute a prompt itself.
 * Only a `both` instance (kv_both) may serve a P2P-NCCL request whole.
 */
export function consumerOnly(w: WorkerView): boolean {
  return w.connector.kind === 'p2p-nccl' && w.role === 'decode';
}
