import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageScanner } from '../../scheduler/usage-scan.ts';

const event = (o: unknown): string => `data: ${JSON.stringify(o)}\n\n`;
const token = (t: string) => event({ id: 'x', object: 'text_completion', choices: [{ index: 0, text: t, finish_reason: null }] });
const usage = { prompt_tokens: 12, total_tokens: 17, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 8 } };
const stream = [...['a', 'b', 'c', 'd', 'e'].map(token), event({ id: 'x', object: 'text_completion', choices: [], usage }), 'data: [DONE]\n\n'].join('');

/** Feeds `text` cut into pieces of `size` bytes. */
function scan(text: string, size: number, sse = true) {
  const s = new UsageScanner(sse);
  const b = Buffer.from(text);
  for (let i = 0; i < b.length; i += size) s.push(b.subarray(i, i + size));
  return s.usage();
}

test('usage scan - reads the usage object of a stream, however it is cut', () => {
  for (const size of [1, 2, 3, 5, 7, 13, 64, 100000]) assert.deepEqual(scan(stream, size), { promptTokens: 12, completionTokens: 5, cachedTokens: 8 }, `pieces of ${size}`);
});

test('usage scan - without usage, counts the events that carry a choice', () => {
  const noUsage = `${['a', 'b', 'c'].map(token).join('') + event({ choices: [] })}data: [DONE]\n\n`;
  for (const size of [1, 4, 9, 1000]) assert.deepEqual(scan(noUsage, size), { promptTokens: 0, completionTokens: 3 }, `pieces of ${size}`);
});

test('usage scan - a JSON body', () => {
  assert.deepEqual(scan(JSON.stringify({ id: 'x', choices: [{ text: 'hi' }], usage }), 10_000, false), { promptTokens: 12, completionTokens: 5, cachedTokens: 8 });
  assert.equal(scan('{"error": {"message": "no"}}', 100, false), null);
});

test('usage scan - continuous usage: the last one wins', () => {
  const s = [1, 2, 3].map((n) => event({ choices: [{ index: 0, text: 'x' }], usage: { prompt_tokens: 4, completion_tokens: n } })).join('');
  for (const size of [3, 50, 1000]) assert.deepEqual(scan(s, size), { promptTokens: 4, completionTokens: 3 });
});
