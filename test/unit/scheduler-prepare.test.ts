// A request's prompt features come from one parse of its body, made only when something reads them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RequestMeta } from '../../proto/request-meta.ts';
import { prepare, type DispatchRequest } from '../../scheduler/request.ts';
import { wholeLoad } from '../../scheduler/whole.ts';
import { PrefixIndex } from '../../scheduler/prefix-index.ts';
import { CHARS_PER_TOKEN } from '../../proto/prompt.ts';

const META: RequestMeta = { requestId: 'r1', route: 'completions', stream: false, routingKey: null, deadline: null, region: null, traceparent: null, priority: 0, auditId: null };

function request(body: string): DispatchRequest {
  return { model: 'm', meta: META, body: new TextEncoder().encode(body), signal: new AbortController().signal, workerRequestId: 'internal-1' };
}

test('prepare - the body is parsed once, lazily, for the JSON, the prefix chain and the token count', (t) => {
  const index = new PrefixIndex({ blockChars: 8 });
  const prompt = 'x'.repeat(40);
  const raw = JSON.stringify({ model: 'm', prompt, max_tokens: 3 });
  const parse = t.mock.method(JSON, 'parse');
  const r = prepare(index, request(raw));
  assert.equal(parse.mock.callCount(), 0, 'nothing parsed before it is read');
  assert.equal(r.promptTokensEstimate(), Math.ceil(raw.length / CHARS_PER_TOKEN), 'before a parse: estimated from the body size');
  assert.equal(parse.mock.callCount(), 0, 'the estimate does not parse');
  assert.deepEqual(r.json(), { model: 'm', prompt, max_tokens: 3 });
  assert.equal(r.promptTokens(), prompt.length / CHARS_PER_TOKEN);
  assert.deepEqual(r.prefixChain(), index.chain(prompt));
  assert.equal(r.prefixChain(), r.prefixChain(), 'the chain is computed once');
  assert.equal(r.json(), r.json(), 'one parsed object shared by every reader');
  assert.equal(r.promptTokensEstimate(), prompt.length / CHARS_PER_TOKEN, 'after a parse: the exact count');
  assert.equal(parse.mock.callCount(), 1);
});

test('prepare - a body that is not JSON has no prompt: json() is null, no prefix, no tokens', () => {
  const r = prepare(new PrefixIndex({ blockChars: 8 }), request('{"prompt": "unterminated'));
  assert.equal(r.json(), null);
  assert.deepEqual(r.prefixChain(), []);
  assert.equal(r.promptTokens(), 0);
});

test('prepare - token-id prompts are counted exactly', () => {
  const r = prepare(new PrefixIndex(), request(JSON.stringify({ model: 'm', prompt: [1, 2, 3, 4, 5] })));
  assert.equal(r.promptTokens(), 5);
});

test('wholeLoad - the uncached prompt until the first byte, then the whole prompt as KV', () => {
  const r = prepare(new PrefixIndex(), request(JSON.stringify({ model: 'm', prompt: 'y'.repeat(400) })));
  r.promptTokens();
  assert.deepEqual(wholeLoad(r, 30), { prefill: 70, decode: 100 });
  assert.deepEqual(wholeLoad(r, 500), { prefill: 0, decode: 100 }, 'never negative');
});
