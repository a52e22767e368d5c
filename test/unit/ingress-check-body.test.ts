import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkBody } from '../../ingress/routes/openai.ts';
import type { ErrorCode, RouterError } from '../../proto/errors.ts';
import type { Route } from '../../proto/request-meta.ts';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** Runs checkBody and returns the coded error it threw. */
function rejection(route: Route, raw: Buffer): RouterError {
  try {
    checkBody(route, raw);
  } catch (e) {
    return e as RouterError;
  }
  assert.fail('checkBody accepted the body');
}

describe('check-body', () => {
  test('check-body - a chat body passes and comes back parsed', () => {
    const body = { model: 'meta-llama/Llama-3.1-8B-Instruct', messages: [{ role: 'user', content: 'hi' }], stream: true, max_tokens: 5 };
    assert.deepEqual(checkBody('chat', json(body)), body);
  });

  test('check-body - a completions body passes with a string or a list prompt', () => {
    for (const prompt of ['Once upon a time', ['a', 'b'], [1, 2, 3], [[1, 2], [3]]]) {
      assert.deepEqual(checkBody('completions', json({ model: 'm', prompt })), { model: 'm', prompt });
    }
  });

  test('check-body - unknown fields and a null stream pass through for vLLM to judge', () => {
    const body = { model: 'm', messages: [], stream: null, top_k: 5, extra_body: { x: 1 } };
    assert.deepEqual(checkBody('chat', json(body)), body);
  });

  test('check-body - UTF-8 text in fields is kept', () => {
    const body = { model: 'modèle-日本', messages: [{ role: 'user', content: '🦙 ñ' }] };
    assert.deepEqual(checkBody('chat', json(body)), body);
  });

  const REJECTED: [string, Route, Buffer, ErrorCode, number, string | undefined][] = [
    ['invalid UTF-8', 'chat', Buffer.from([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), 'LLMR_ERR_INVALID_UTF8', 400, undefined],
    ['a truncated UTF-8 sequence', 'chat', Buffer.concat([Buffer.from('{"model":"'), Buffer.from([0xe6, 0x97]), Buffer.from('"}')]), 'LLMR_ERR_INVALID_UTF8', 400, undefined],
    ['an empty body', 'chat', Buffer.alloc(0), 'LLMR_ERR_INVALID_JSON', 400, undefined],
    ['truncated JSON', 'chat', Buffer.from('{"model":"m",'), 'LLMR_ERR_INVALID_JSON', 400, undefined],
    ['not JSON', 'completions', Buffer.from('model=m&prompt=x'), 'LLMR_ERR_INVALID_JSON', 400, undefined],
    ['a JSON array', 'chat', json([{ model: 'm' }]), 'LLMR_ERR_INVALID_REQUEST', 400, 'body'],
    ['a JSON string', 'chat', json('m'), 'LLMR_ERR_INVALID_REQUEST', 400, 'body'],
    ['JSON null', 'chat', json(null), 'LLMR_ERR_INVALID_REQUEST', 400, 'body'],
    ['a JSON number', 'completions', json(3), 'LLMR_ERR_INVALID_REQUEST', 400, 'body'],
    ['a missing model', 'chat', json({ messages: [] }), 'LLMR_ERR_MISSING_MODEL', 400, 'model'],
    ['a null model', 'completions', json({ model: null, prompt: 'x' }), 'LLMR_ERR_MISSING_MODEL', 400, 'model'],
    ['a numeric model', 'chat', json({ model: 7, messages: [] }), 'LLMR_ERR_INVALID_REQUEST', 400, 'model'],
    ['an object model', 'chat', json({ model: { name: 'm' }, messages: [] }), 'LLMR_ERR_INVALID_REQUEST', 400, 'model'],
    ['an empty model', 'chat', json({ model: '', messages: [] }), 'LLMR_ERR_INVALID_REQUEST', 400, 'model'],
    ['an over-long model', 'chat', json({ model: 'm'.repeat(513), messages: [] }), 'LLMR_ERR_INVALID_REQUEST', 400, 'model'],
    ['a string stream', 'chat', json({ model: 'm', messages: [], stream: 'true' }), 'LLMR_ERR_INVALID_REQUEST', 400, 'stream'],
    ['a numeric stream', 'completions', json({ model: 'm', prompt: 'x', stream: 1 }), 'LLMR_ERR_INVALID_REQUEST', 400, 'stream'],
    ['missing messages', 'chat', json({ model: 'm' }), 'LLMR_ERR_INVALID_REQUEST', 400, 'messages'],
    ['messages that are not a list', 'chat', json({ model: 'm', messages: { role: 'user' } }), 'LLMR_ERR_INVALID_REQUEST', 400, 'messages'],
    ['a chat body sent to completions (no prompt)', 'completions', json({ model: 'm', messages: [] }), 'LLMR_ERR_INVALID_REQUEST', 400, 'prompt'],
    ['a numeric prompt', 'completions', json({ model: 'm', prompt: 5 }), 'LLMR_ERR_INVALID_REQUEST', 400, 'prompt'],
    ['a null prompt', 'completions', json({ model: 'm', prompt: null }), 'LLMR_ERR_INVALID_REQUEST', 400, 'prompt'],
  ];
  for (const [what, route, raw, code, status, param] of REJECTED) {
    test(`check-body - ${route}: ${what} → ${code}${param ? ` (param ${param})` : ''}`, () => {
      const e = rejection(route, raw);
      assert.equal(e.code, code);
      assert.equal(e.statusCode, status);
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.param, param);
      assert.ok(e.message.length > 0);
      assert.doesNotMatch(e.message, /%s/);
    });
  }

  test('check-body - the model check comes before the route’s fields', () => {
    assert.equal(rejection('completions', json({})).code, 'LLMR_ERR_MISSING_MODEL');
    assert.equal(rejection('chat', json({ model: 1 })).param, 'model');
  });

  test('check-body - an invalid JSON error says why', () => {
    assert.match(rejection('chat', Buffer.from('{"a":')).message, /^The request body is not valid JSON: .+/);
  });
});
