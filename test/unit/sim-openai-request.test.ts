import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseChat, parseCompletion, type GenerationRequest, type Parsed } from '../../sim/openai-request.ts';
import { renderChat } from '../../sim/tokenizer.ts';

function ok(r: Parsed): GenerationRequest {
  if (!r.ok) assert.fail(`expected a valid request, got ${JSON.stringify(r.error.body)}`);
  return r.value;
}

function rejected(r: Parsed, param: string | null, type?: string): void {
  assert.equal(r.ok, false, 'expected a rejection');
  if (r.ok) return;
  assert.equal(r.error.status, 400);
  assert.equal(r.error.body.error.code, 400);
  assert.equal(r.error.body.error.param, param);
  assert.equal(typeof r.error.body.error.message, 'string');
  assert.ok(r.error.body.error.message.length > 0);
  if (type) assert.equal(r.error.body.error.type, type);
}

const USER = [{ role: 'user', content: 'Hi' }];

describe('openai-request', () => {
  test('openai-request - a completion with a string prompt', () => {
    const v = ok(parseCompletion({ model: 'm', prompt: 'Hello', max_tokens: 5 }));
    assert.equal(v.kind, 'completion');
    assert.equal(v.model, 'm');
    assert.deepEqual(v.prompt, { text: 'Hello' });
    assert.equal(v.maxTokens, 5);
    assert.equal(v.stream, false);
  });

  test('openai-request - a completion with a token-id prompt', () => {
    const v = ok(parseCompletion({ prompt: [1, 2, 3] }));
    assert.deepEqual(v.prompt, { tokens: [1, 2, 3] });
    assert.equal(v.model, null);
  });

  test('openai-request - a completion with a one-element list of strings or of token lists', () => {
    assert.deepEqual(ok(parseCompletion({ prompt: ['Hello'] })).prompt, { text: 'Hello' });
    assert.deepEqual(ok(parseCompletion({ prompt: [[4, 5]] })).prompt, { tokens: [4, 5] });
  });

  const defaults: [string, () => Parsed, number | null][] = [
    ['completions default max_tokens to 16', () => parseCompletion({ prompt: 'x' }), 16],
    ['completions take an explicit max_tokens null as the rest of the context, as vLLM does', () => parseCompletion({ prompt: 'x', max_tokens: null }), null],
    ['chat defaults max_tokens to null (rest of the context)', () => parseChat({ messages: USER }), null],
    ['chat takes max_tokens', () => parseChat({ messages: USER, max_tokens: 7 }), 7],
    ['chat prefers max_completion_tokens over max_tokens', () => parseChat({ messages: USER, max_tokens: 7, max_completion_tokens: 9 }), 9],
  ];
  for (const [name, parse, expected] of defaults) {
    test(`openai-request - ${name}`, () => {
      assert.equal(ok(parse()).maxTokens, expected);
    });
  }

  test('openai-request - chat renders messages with the template', () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ];
    const v = ok(parseChat({ messages }));
    assert.equal(v.kind, 'chat');
    assert.deepEqual(v.prompt, { text: renderChat(messages) });
  });

  test('openai-request - chat joins text content parts and accepts null content', () => {
    const v = ok(
      parseChat({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Hello ' }, { type: 'image_url' }, { type: 'text', text: 'there' }] },
          { role: 'assistant', content: null },
        ],
      }),
    );
    assert.deepEqual(v.prompt, {
      text: renderChat([
        { role: 'user', content: 'Hello there' },
        { role: 'assistant', content: '' },
      ]),
    });
  });

  test('openai-request - add_generation_prompt false leaves the assistant header out', () => {
    const v = ok(parseChat({ messages: USER, add_generation_prompt: false }));
    assert.deepEqual(v.prompt, { text: renderChat(USER, false) });
  });

  test('openai-request - optional fields are carried over', () => {
    const v = ok(
      parseCompletion({
        prompt: 'x',
        stream: true,
        stream_options: { include_usage: true, continuous_usage_stats: true },
        min_tokens: 2,
        max_tokens: 10,
        stop: 'END',
        ignore_eos: true,
        include_stop_str_in_output: true,
        cache_salt: 'salt',
        kv_transfer_params: { do_remote_decode: true },
        n: 1,
        priority: 0,
        temperature: 0,
        user: 'u',
        some_unknown_extension: 42,
      }),
    );
    assert.equal(v.stream, true);
    assert.equal(v.includeUsage, true);
    assert.equal(v.continuousUsage, true);
    assert.equal(v.minTokens, 2);
    assert.deepEqual(v.stop, ['END']);
    assert.equal(v.ignoreEos, true);
    assert.equal(v.includeStopStr, true);
    assert.equal(v.cacheSalt, 'salt');
    assert.deepEqual(v.kvTransferParams, { do_remote_decode: true });
  });

  test('openai-request - absent optional fields take vLLM defaults', () => {
    const v = ok(parseChat({ messages: USER }));
    assert.equal(v.stream, false);
    assert.equal(v.includeUsage, false);
    assert.equal(v.continuousUsage, false);
    assert.equal(v.minTokens, 0);
    assert.deepEqual(v.stop, []);
    assert.equal(v.ignoreEos, false);
    assert.equal(v.includeStopStr, false);
    assert.equal(v.cacheSalt, null);
    assert.equal(v.kvTransferParams, null);
  });

  test('openai-request - stop as a list stays a list', () => {
    assert.deepEqual(ok(parseChat({ messages: USER, stop: ['a', 'b'] })).stop, ['a', 'b']);
    assert.deepEqual(ok(parseChat({ messages: USER, stop: null })).stop, []);
  });

  // [name, parser, body, param, type]
  const rejections: [string, 'completion' | 'chat', unknown, string | null, string][] = [
    ['a missing prompt', 'completion', { max_tokens: 5 }, 'prompt', 'Bad Request'],
    ['missing messages', 'chat', { max_tokens: 5 }, 'messages', 'Bad Request'],
    ['a body that is not an object', 'completion', null, null, 'Bad Request'],
    ['a numeric prompt', 'completion', { prompt: 5 }, 'prompt', 'Bad Request'],
    ['fractional token ids', 'completion', { prompt: [1.5] }, 'prompt', 'Bad Request'],
    ['messages that are not a list', 'chat', { messages: 'hi' }, 'messages', 'Bad Request'],
    ['a message without a role', 'chat', { messages: [{ content: 'x' }] }, 'messages.0.role', 'Bad Request'],
    ['numeric message content', 'chat', { messages: [{ role: 'user', content: 5 }] }, 'messages.0.content', 'Bad Request'],
    ['max_tokens as a string (completion)', 'completion', { prompt: 'x', max_tokens: '5' }, 'max_tokens', 'Bad Request'],
    ['max_tokens as a string (chat)', 'chat', { messages: USER, max_tokens: '5' }, 'max_tokens', 'Bad Request'],
    ['fractional max_tokens', 'completion', { prompt: 'x', max_tokens: 1.5 }, 'max_tokens', 'Bad Request'],
    ['stream as a string', 'completion', { prompt: 'x', stream: 'yes' }, 'stream', 'Bad Request'],
    ['stop as a number', 'chat', { messages: USER, stop: 5 }, 'stop', 'Bad Request'],
    ['max_tokens 0 (completion)', 'completion', { prompt: 'x', max_tokens: 0 }, 'max_tokens', 'BadRequestError'],
    ['max_tokens 0 (chat)', 'chat', { messages: USER, max_tokens: 0 }, 'max_tokens', 'BadRequestError'],
    ['max_completion_tokens 0', 'chat', { messages: USER, max_completion_tokens: 0 }, 'max_tokens', 'BadRequestError'],
    ['negative max_tokens', 'completion', { prompt: 'x', max_tokens: -1 }, 'max_tokens', 'BadRequestError'],
    ['negative min_tokens', 'completion', { prompt: 'x', min_tokens: -1 }, 'min_tokens', 'BadRequestError'],
    ['n=2 (completion)', 'completion', { prompt: 'x', n: 2 }, 'n', 'BadRequestError'],
    ['n=2 (chat)', 'chat', { messages: USER, n: 2 }, 'n', 'BadRequestError'],
    ['batched string prompts', 'completion', { prompt: ['a', 'b'] }, 'prompt', 'BadRequestError'],
    ['batched token prompts', 'completion', { prompt: [[1], [2]] }, 'prompt', 'BadRequestError'],
    ['an empty prompt list', 'completion', { prompt: [] }, 'prompt', 'BadRequestError'],
    ['empty messages', 'chat', { messages: [] }, 'messages', 'BadRequestError'],
    ['min_tokens > max_tokens (completion)', 'completion', { prompt: 'x', max_tokens: 3, min_tokens: 4 }, 'min_tokens', 'BadRequestError'],
    ['min_tokens > default max_tokens 16', 'completion', { prompt: 'x', min_tokens: 17 }, 'min_tokens', 'BadRequestError'],
    ['min_tokens > max_completion_tokens', 'chat', { messages: USER, max_completion_tokens: 3, min_tokens: 4 }, 'min_tokens', 'BadRequestError'],
    ['stream_options without stream', 'completion', { prompt: 'x', stream_options: { include_usage: true } }, 'stream_options', 'BadRequestError'],
    ['stream_options with stream false', 'chat', { messages: USER, stream: false, stream_options: { include_usage: true } }, 'stream_options', 'BadRequestError'],
    ['priority 1', 'completion', { prompt: 'x', priority: 1 }, 'priority', 'BadRequestError'],
    ['priority -1', 'chat', { messages: USER, priority: -1 }, 'priority', 'BadRequestError'],
    ['an empty cache_salt (completion)', 'completion', { prompt: 'x', cache_salt: '' }, 'cache_salt', 'BadRequestError'],
    ['an empty cache_salt (chat)', 'chat', { messages: USER, cache_salt: '' }, 'cache_salt', 'BadRequestError'],
  ];
  for (const [name, kind, body, param, type] of rejections) {
    test(`openai-request - rejects ${name} with 400 and param ${param}`, () => {
      rejected(kind === 'chat' ? parseChat(body) : parseCompletion(body), param, type);
    });
  }

  test('openai-request - a priority other than 0 is accepted (and kept) under --scheduling-policy priority', () => {
    assert.equal(ok(parseCompletion({ prompt: 'x', priority: 7 }, 'priority')).priority, 7);
    assert.equal(ok(parseChat({ messages: USER, priority: -3 }, 'priority')).priority, -3);
    assert.equal(ok(parseChat({ messages: USER })).priority, 0);
  });

  test('openai-request - min_tokens equal to max_tokens is fine', () => {
    const v = ok(parseCompletion({ prompt: 'x', max_tokens: 4, min_tokens: 4 }));
    assert.equal(v.minTokens, 4);
  });

  test('openai-request - chat with no max_tokens accepts any min_tokens (the limit comes from the context)', () => {
    assert.equal(ok(parseChat({ messages: USER, min_tokens: 100 })).minTokens, 100);
  });

  test('openai-request - stream_options null without stream is fine', () => {
    assert.equal(ok(parseCompletion({ prompt: 'x', stream_options: null })).includeUsage, false);
  });
});
