// max-score-picker: the highest total; ties broken at random (llm-d shuffles before a stable sort).
import type { Picker } from './types.ts';

export const maxScorePicker: Picker = {
  type: 'max-score-picker',
  pick(cands, scores, ctx) {
    let best = -Infinity;
    const top: number[] = [];
    scores.forEach((s, i) => {
      if (s > best + 1e-12) {
        best = s;
        top.length = 0;
        top.push(i);
      } else if (Math.abs(s - best) <= 1e-12) top.push(i);
    });
    if (top.length === 0) return undefined;
    return cands[top[Math.floor(ctx.random() * top.length)]!];
  },
};
