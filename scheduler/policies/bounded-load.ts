// bounded_load: consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam, 2018).
// A key goes to its ring owner unless that worker carries more than `factor` times the mean
// load; then it walks the ring to the next worker under the bound. Sticky while a worker has
// room, spilling over before it saturates, which plain consistent hashing never does (users of
// the vLLM Router's consistent_hash report KV-thrash on hot sessions for this reason).
import { RingCache } from './hash-ring.ts';
import { loadOf, type Policy, totalLoad } from './types.ts';

export const type = 'bounded_load';

export interface BoundedLoadParams {
  readonly virtualNodes: number;
  /** A worker may carry up to factor × mean load (+1) before keys spill to the next one. */
  readonly factor: number;
}

export const BOUNDED_LOAD_DEFAULTS: BoundedLoadParams = Object.freeze({ virtualNodes: 160, factor: 1.25 });

export function boundedLoad(params: Partial<BoundedLoadParams> = {}): Policy {
  const p = { ...BOUNDED_LOAD_DEFAULTS, ...params };
  if (!(p.factor >= 1)) throw new RangeError(`bounded_load factor must be >= 1, got ${p.factor}`);
  // An empty ring would walk nothing and pick nothing.
  if (!(Number.isInteger(p.virtualNodes) && p.virtualNodes >= 1)) throw new RangeError(`bounded_load virtualNodes must be an integer >= 1, got ${p.virtualNodes}`);
  const rings = new Map<string, RingCache>();
  return {
    type,
    consumes: ['routingKey', 'load.running', 'load.waiting', 'inflight'],
    pick(candidates, req, ctx) {
      const key = req.routingKey ?? String(ctx.random());
      let cache = rings.get(req.model);
      if (!cache) {
        cache = new RingCache(p.virtualNodes);
        rings.set(req.model, cache);
      }
      const ring = cache.of(candidates);
      const total = totalLoad(candidates);
      // The request being placed counts too, so an idle fleet still has a bound of at least 1.
      const bound = Math.ceil((p.factor * (total + 1)) / candidates.length);
      const start = ring.position(key);
      const seen = new Set<number>();
      let least: number | undefined;
      for (let step = 0; step < ring.size && seen.size < candidates.length; step++) {
        const w = ring.ownerAt(start + step);
        if (seen.has(w)) continue;
        seen.add(w);
        const load = loadOf(candidates[w]!);
        if (load < bound) return candidates[w];
        if (least === undefined || load < loadOf(candidates[least]!)) least = w;
      }
      return least === undefined ? undefined : candidates[least];
    },
  } satisfies Policy;
}
