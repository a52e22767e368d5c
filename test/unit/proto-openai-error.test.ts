import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errors } from '../../proto/errors.ts';
import { openAiError, readWorkerError } from '../../proto/openai-error.ts';

describe('openai-error', () => {
  test('openai-error - a coded error becomes an OpenAI body with our code', () => {
    const e = errors.LLMR_ERR_MODEL_NOT_FOUND('gpt-x');
    assert.deepEqual(openAiError(e), {
      error: { message: 'The model `gpt-x` does not exist.', type: 'invalid_request_error', param: null, code: 'LLMR_ERR_MODEL_NOT_FOUND' },
    });
    e.param = 'model';
    assert.equal(openAiError(e).error.param, 'model');
  });

  const WORKER_BODIES: [string, unknown, ReturnType<typeof readWorkerError>][] = [
    [
      "vLLM's nested shape",
      { error: { message: 'max_tokens is too large', type: 'BadRequestError', param: 'max_tokens', code: 400 } },
      { message: 'max_tokens is too large', type: 'BadRequestError', param: 'max_tokens' },
    ],
    ['the nested shape without type or param', { error: { message: 'boom' } }, { message: 'boom', type: 'server_error', param: null }],
    [
      "vLLM's old flat shape",
      { object: 'error', message: 'The model `x` does not exist.', type: 'NotFoundError', param: null, code: 404 },
      { message: 'The model `x` does not exist.', type: 'NotFoundError', param: null },
    ],
    ['a flat body that is not marked as an error', { message: 'hello' }, null],
    ['a nested error without a message', { error: { type: 'x' } }, null],
    ['a nested error with a non-string message', { error: { message: 42 } }, null],
    ['an error that is a string', { error: 'bad' }, null],
    ['null', null, null],
    ['a string', 'Internal Server Error', null],
    ['an array', [{ error: { message: 'x' } }], null],
  ];
  for (const [what, body, want] of WORKER_BODIES) {
    test(`openai-error - readWorkerError reads ${what}`, () => {
      assert.deepEqual(readWorkerError(body), want);
    });
  }

  test('openai-error - non-string type and param fall back', () => {
    assert.deepEqual(readWorkerError({ error: { message: 'm', type: 3, param: ['x'] } }), { message: 'm', type: 'server_error', param: null });
  });
});
