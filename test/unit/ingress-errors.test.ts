import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toRouterError } from '../../ingress/errors.ts';
import { errors, type ErrorCode } from '../../proto/errors.ts';

const fst = (code: string, message: string, statusCode = 400) => Object.assign(new Error(message), { code, statusCode });

describe('ingress-errors', () => {
  test('ingress-errors - a router error passes through unchanged', () => {
    const e = errors.LLMR_ERR_NO_WORKER('m');
    assert.equal(toRouterError(e, 100), e);
  });

  const MAPPED: [string, unknown, ErrorCode, number, RegExp][] = [
    ['body too large', fst('FST_ERR_CTP_BODY_TOO_LARGE', 'Request body is too large', 413), 'LLMR_ERR_BODY_TOO_LARGE', 413, /limit of 1048576 bytes/],
    ['unsupported media type', fst('FST_ERR_CTP_INVALID_MEDIA_TYPE', 'Unsupported Media Type: text/plain', 415), 'LLMR_ERR_UNSUPPORTED_MEDIA_TYPE', 415, /^Unsupported content type text\/plain:/],
    ['unsupported media type without one', fst('FST_ERR_CTP_INVALID_MEDIA_TYPE', 'Unsupported Media Type: ', 415), 'LLMR_ERR_UNSUPPORTED_MEDIA_TYPE', 415, /content type none/],
    ['an empty JSON body', fst('FST_ERR_CTP_EMPTY_JSON_BODY', "Body cannot be empty when content-type is set to 'application/json'"), 'LLMR_ERR_INVALID_JSON', 400, /Body cannot be empty/],
    ['an invalid JSON body', fst('FST_ERR_CTP_INVALID_JSON_BODY', 'Unexpected end of JSON input'), 'LLMR_ERR_INVALID_JSON', 400, /Unexpected end/],
    ['an invalid content length', fst('FST_ERR_CTP_INVALID_CONTENT_LENGTH', 'Request body size did not match Content-Length'), 'LLMR_ERR_INVALID_JSON', 400, /Content-Length/],
    ['a schema validation error', Object.assign(new Error('body/model must be string'), { validation: [{}], statusCode: 400 }), 'LLMR_ERR_INVALID_REQUEST', 400, /body\/model/],
    ['a 408', fst('FST_ERR_X', 'timeout', 408), 'LLMR_ERR_REQUEST_TIMEOUT', 408, /in time/],
    ['a 431', fst('FST_ERR_X', 'headers', 431), 'LLMR_ERR_HEADERS_TOO_LARGE', 431, /headers are too large/],
    ['another 4xx', fst('FST_ERR_X', 'bad thing', 422), 'LLMR_ERR_INVALID_REQUEST', 400, /^bad thing$/],
    ['a 5xx', fst('FST_ERR_X', 'kaboom', 503), 'LLMR_ERR_INTERNAL', 500, /kaboom/],
    ['a plain Error', new Error('oops'), 'LLMR_ERR_INTERNAL', 500, /oops/],
    ['a thrown string', 'just a string', 'LLMR_ERR_INTERNAL', 500, /just a string/],
    ['null', null, 'LLMR_ERR_INTERNAL', 500, /^Internal router error: null$/],
    ['undefined', undefined, 'LLMR_ERR_INTERNAL', 500, /^Internal router error: undefined$/],
    ['an error coded like ours from another library', Object.assign(new Error('x'), { code: 'ECONNRESET' }), 'LLMR_ERR_INTERNAL', 500, /x/],
  ];
  for (const [what, input, code, status, msg] of MAPPED) {
    test(`ingress-errors - ${what} → ${code}`, () => {
      const e = toRouterError(input, 1048576);
      assert.equal(e.code, code);
      assert.equal(e.statusCode, status);
      assert.match(e.message, msg);
      assert.doesNotMatch(e.message, /%s/);
    });
  }
});
