// round_robin: each pick takes the next candidate in order (a counter modulo the candidates).
import type { Policy } from './types.ts';

export const type = 'round_robin';

export function roundRobin(): Policy {
  let next = 0;
  return {
    type,
    consumes: [],
    pick(candidates) {
      // Kept below the list's length, so the cycle stays exact forever (a fixed modulus would
      // skip or repeat a worker each time the counter wrapped).
      const i = next % candidates.length;
      next = i + 1;
      return candidates[i];
    },
  } satisfies Policy;
}
