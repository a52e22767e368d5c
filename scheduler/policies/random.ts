// random: uniform over the candidates.
import type { Policy } from './types.ts';

export const type = 'random';

export function random(): Policy {
  return {
    type,
    consumes: [],
    pick(candidates, _req, ctx) {
      return candidates[Math.floor(ctx.random() * candidates.length)];
    },
  } satisfies Policy;
}
