// consistent_hash: requests with the same routing key (session, user, else a hash of the
// request) go to the same worker while it is a candidate, so its KV cache is reused. A ring with
// virtual nodes per worker: when a worker joins or leaves, only its share of keys moves.
// Requests without a key are spread at random.
import { RingCache } from './hash-ring.ts';
import type { Policy } from './types.ts';

export const type = 'consistent_hash';

export interface ConsistentHashParams {
  /** Virtual nodes per worker (the vLLM Router uses 160). */
  readonly virtualNodes: number;
}

export const CONSISTENT_HASH_DEFAULTS: ConsistentHashParams = Object.freeze({ virtualNodes: 160 });

export function consistentHash(params: Partial<ConsistentHashParams> = {}): Policy {
  const p = { ...CONSISTENT_HASH_DEFAULTS, ...params };
  // An empty ring would map every key to nothing.
  if (!(Number.isInteger(p.virtualNodes) && p.virtualNodes >= 1)) throw new RangeError(`consistent_hash virtualNodes must be an integer >= 1, got ${p.virtualNodes}`);
  const rings = new Map<string, RingCache>();
  return {
    type,
    consumes: ['routingKey'],
    pick(candidates, req, ctx) {
      if (req.routingKey === null) return candidates[Math.floor(ctx.random() * candidates.length)];
      let cache = rings.get(req.model);
      if (!cache) {
        cache = new RingCache(p.virtualNodes);
        rings.set(req.model, cache);
      }
      const ring = cache.of(candidates);
      return candidates[ring.lookup(req.routingKey)];
    },
  } satisfies Policy;
}
