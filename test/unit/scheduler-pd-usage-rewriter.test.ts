// A decode worker's usage, rewritten to what one vLLM serving the request whole would report:
// its `cached_tokens` become the prefill worker's own, every other byte passes through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonUsageRewriter, SseUsageRewriter, usageRewriter } from '../../scheduler/pd/usage-rewriter.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

function through(t: { push(c: Uint8Array): Uint8Array; flush(): Uint8Array }, chunks: string[]): string {
  return chunks.map((c) => dec.decode(t.push(enc.encode(c)))).join('') + dec.decode(t.flush());
}

const usage = (cached: number): string => `{"usage":{"prompt_tokens":700,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":${cached}}}}`;

test('pd usage rewriter - a JSON answer is held back and rewritten whole', () => {
  const t = new JsonUsageRewriter(16);
  const body = `{"id":"x","choices":[],${usage(700).slice(1)}`;
  assert.equal(dec.decode(t.push(enc.encode(body.slice(0, 20)))), '', 'nothing goes out before the end');
  assert.equal(dec.decode(t.push(enc.encode(body.slice(20)))), '');
  assert.equal(dec.decode(t.flush()), body.replace('"cached_tokens":700', '"cached_tokens":16'));
});

test('pd usage rewriter - SSE events pass as they complete; the usage event is rewritten even when split', () => {
  const first = 'data: {"choices":[{"text":"a"}]}\n\n';
  const last = `data: ${usage(700)}\n\ndata: [DONE]\n\n`;
  const out = through(new SseUsageRewriter(0), [first, last.slice(0, 40), last.slice(40)]);
  assert.equal(out, first + last.replace('"cached_tokens":700', '"cached_tokens":0'));
});

test('pd usage rewriter - chosen by the answer content type', () => {
  assert.ok(usageRewriter('text/event-stream; charset=utf-8', 0) instanceof SseUsageRewriter);
  assert.ok(usageRewriter('application/json', 0) instanceof JsonUsageRewriter);
});
