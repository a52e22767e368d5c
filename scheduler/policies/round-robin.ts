// round_robin: each pick takes the next candidate in order (a counter modulo the candidates).
import type { Policy } from './types.ts';

export const type = 'round_robin';

export function roundRobin(): Policy {
  let next = 0;
  return {
    type,
    consumes: [],
    pick(candidates) {
      const c = candidates[next % candidates.length];
      next = (next + 1) % 1_000_000_007;
      return c;
    },
  } satisfies Policy;
}
