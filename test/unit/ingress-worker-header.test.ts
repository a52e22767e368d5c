import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { INGRESS_DEFAULTS } from '../../ingress/options.ts';
import { opaqueWorkerId, workerHeaderValue } from '../../ingress/worker-header.ts';

const KEY = 'k'.repeat(32);
const hmac12 = (id: string) => createHmac('sha256', KEY).update(id).digest('hex').slice(0, 12);

describe('worker-header', () => {
  test('worker-header - opaque is the default', () => {
    assert.equal(INGRESS_DEFAULTS.workerHeader, 'opaque');
  });

  test('worker-header - opaque is HMAC-SHA256 of the id, 12 hex characters, and shows no address', () => {
    const v = workerHeaderValue('opaque', KEY)('10-0-0-5-8000');
    assert.equal(v, hmac12('10-0-0-5-8000'));
    assert.match(v!, /^[0-9a-f]{12}$/);
    assert.doesNotMatch(v!, /8000|10-0-0-5/);
  });

  test('worker-header - a prefill,decode pair stays two names', () => {
    assert.equal(workerHeaderValue('opaque', KEY)('p-1,d-2'), `${hmac12('p-1')},${hmac12('d-2')}`);
    assert.equal(workerHeaderValue('id', KEY)('p-1,d-2'), 'p-1,d-2');
  });

  test('worker-header - stable under one key, different under another', () => {
    assert.equal(opaqueWorkerId(KEY, 'w'), opaqueWorkerId(KEY, 'w'));
    assert.notEqual(opaqueWorkerId(KEY, 'w'), opaqueWorkerId('another key', 'w'));
    assert.notEqual(opaqueWorkerId(KEY, 'w1'), opaqueWorkerId(KEY, 'w2'));
  });

  test('worker-header - id passes the id, none and an empty worker give no header', () => {
    assert.equal(workerHeaderValue('id', KEY)('w-1'), 'w-1');
    assert.equal(workerHeaderValue('none', KEY)('w-1'), null);
    for (const m of ['opaque', 'id', 'none'] as const) assert.equal(workerHeaderValue(m, KEY)(''), null);
  });
});
