// power_of_two: sample two distinct candidates, take the less loaded (reported running + waiting,
// plus what every scheduler replica has in flight to it). Ties go to either at random.
import { loadOf, type Policy } from './types.ts';

export const type = 'power_of_two';

export function powerOfTwo(): Policy {
  return {
    type,
    consumes: ['load.running', 'load.waiting', 'inflight'],
    pick(candidates, _req, ctx) {
      const n = candidates.length;
      if (n === 1) return candidates[0];
      const i = Math.floor(ctx.random() * n);
      let j = Math.floor(ctx.random() * (n - 1));
      if (j >= i) j++;
      const a = candidates[i]!;
      const b = candidates[j]!;
      const la = loadOf(a);
      const lb = loadOf(b);
      if (la !== lb) return la < lb ? a : b;
      return ctx.random() < 0.5 ? a : b;
    },
  } satisfies Policy;
}
