import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ERROR_CODES, ERROR_DEFS, errors, fromWire, isErrorCode, isRouterError, toWire, type ErrorCode } from '../../proto/errors.ts';

const TYPES = new Set(['invalid_request_error', 'authentication_error', 'not_found_error', 'rate_limit_error', 'server_error', 'timeout_error']);

/** Arguments for a template: one distinct word per `%s`. */
function argsFor(code: ErrorCode): string[] {
  const n = ERROR_DEFS[code].message.split('%s').length - 1;
  return Array.from({ length: n }, (_, i) => `arg${i}-${code.toLowerCase()}`);
}

function filled(code: ErrorCode, args: readonly string[]): string {
  let i = 0;
  return ERROR_DEFS[code].message.replace(/%s/g, () => args[i++]!);
}

describe('errors', () => {
  test('errors - every code is LLMR_ERR_*, unique, and has a constructor', () => {
    assert.ok(ERROR_CODES.length > 0);
    assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
    assert.deepEqual(Object.keys(errors).sort(), [...ERROR_CODES].sort());
    for (const code of ERROR_CODES) assert.match(code, /^LLMR_ERR_[A-Z0-9_]+$/);
  });

  for (const code of ERROR_CODES) {
    const def = ERROR_DEFS[code];
    test(`errors - ${code} constructs with status ${def.status}, type ${def.type} and its message filled`, () => {
      const args = argsFor(code);
      const e = errors[code](...args);
      assert.ok(e instanceof Error);
      assert.ok(isRouterError(e));
      assert.equal(e.code, code);
      assert.equal(e.statusCode, def.status);
      assert.equal(e.type, def.type);
      assert.ok(TYPES.has(e.type));
      assert.ok(def.status >= 400 && def.status <= 599);
      assert.equal(e.message, filled(code, args));
      assert.doesNotMatch(e.message, /%s/);
      for (const a of args) assert.ok(e.message.includes(a));
      assert.equal(e.param, undefined);
      assert.equal(e.retryAfterS, undefined);
    });

    test(`errors - ${code} survives toWire/fromWire`, () => {
      const e = errors[code](...argsFor(code));
      e.param = 'messages';
      e.retryAfterS = 3;
      const wire = JSON.parse(JSON.stringify(toWire(e))) as unknown;
      const back = fromWire(wire);
      assert.ok(isRouterError(back));
      assert.equal(back.code, code);
      assert.equal(back.statusCode, def.status);
      assert.equal(back.type, def.type);
      assert.equal(back.message, e.message);
      assert.equal(back.param, 'messages');
      assert.equal(back.retryAfterS, 3);
    });
  }

  test('errors - server errors are 5xx and client errors 4xx', () => {
    for (const code of ERROR_CODES) {
      const { status, type } = ERROR_DEFS[code];
      if (type === 'server_error') assert.ok(status >= 500, code);
      if (type === 'invalid_request_error' || type === 'authentication_error') assert.ok(status < 500, code);
    }
  });

  test('errors - toWire leaves out what is not set and keeps a null param', () => {
    const e = errors.LLMR_ERR_NO_SCHEDULER();
    assert.deepEqual(toWire(e), { code: 'LLMR_ERR_NO_SCHEDULER', status: 503, message: 'No scheduler accepted the request.' });
    e.param = null;
    assert.deepEqual(fromWire(toWire(e)).param, null);
  });

  test('errors - fromWire turns unknown or missing codes into LLMR_ERR_INTERNAL', () => {
    for (const w of [undefined, null, 42, 'x', {}, { code: 'NOPE', message: 'm' }, { code: 'toString' }, { code: '__proto__' }, { code: 'llmr_err_internal' }]) {
      const e = fromWire(w);
      assert.equal(e.code, 'LLMR_ERR_INTERNAL');
      assert.equal(e.statusCode, 500);
    }
  });

  test('errors - fromWire ignores fields of the wrong type', () => {
    const e = fromWire({ code: 'LLMR_ERR_NO_WORKER', status: 200, message: 5, param: 7, retryAfterS: '3' });
    assert.equal(e.code, 'LLMR_ERR_NO_WORKER');
    assert.equal(e.statusCode, 503, 'the status comes from the code, not the wire');
    assert.equal(typeof e.message, 'string');
    assert.equal(e.param, undefined);
    assert.equal(e.retryAfterS, undefined);
  });

  test('errors - fromWire without a message shows no template placeholders', () => {
    for (const code of ERROR_CODES) {
      const e = fromWire({ code });
      assert.equal(e.code, code);
      assert.doesNotMatch(e.message, /%s/, code);
      assert.ok(e.message.length > 0);
    }
    assert.equal(fromWire({ code: 'LLMR_ERR_NO_WORKER' }).message, 'No worker is available for model `(unknown)`; retry later.');
  });

  test('errors - isErrorCode accepts only declared codes', () => {
    assert.ok(isErrorCode('LLMR_ERR_INTERNAL'));
    for (const c of ['toString', 'constructor', '__proto__', 'hasOwnProperty', '', 'FST_ERR_CTP_BODY_TOO_LARGE', 1, null, undefined]) {
      assert.equal(isErrorCode(c), false, String(c));
    }
  });

  test('errors - isRouterError rejects look-alikes', () => {
    assert.equal(isRouterError({ code: 'LLMR_ERR_INTERNAL', message: 'x' }), false);
    assert.equal(isRouterError(Object.assign(new Error('x'), { code: 'ECONNRESET' })), false);
    assert.equal(isRouterError(Object.assign(new Error('x'), { code: 'LLMR_ERR_INTERNAL' })), true);
  });
});
