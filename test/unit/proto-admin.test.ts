import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeDrain, decodeDrainAck, encodeDrain, encodeDrainAck, type DrainAck } from '../../proto/admin.ts';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('admin', () => {
  test('admin - a drain command encodes to the same JSON whatever the key order, and decodes back', () => {
    assert.equal(text(encodeDrain({ workerId: 'w-1', drain: true })), '{"workerId":"w-1","drain":true}');
    assert.equal(text(encodeDrain({ drain: false, workerId: 'w-1' })), '{"workerId":"w-1","drain":false}');
    assert.deepEqual(decodeDrain(JSON.parse(text(encodeDrain({ workerId: 'w-1', drain: true })))), { workerId: 'w-1', drain: true });
  });

  const BAD_COMMANDS: [string, unknown][] = [
    ['null', null],
    ['no drain', { workerId: 'w' }],
    ['drain a string', { workerId: 'w', drain: 'yes' }],
    ['a worker id that is not a plain id', { workerId: 'w.1', drain: true }],
    ['an extra field', { workerId: 'w', drain: true, all: true }],
  ];
  for (const [what, v] of BAD_COMMANDS) {
    test(`admin - a drain command with ${what} is refused`, () => {
      assert.equal(decodeDrain(v), null);
    });
  }

  test('admin - drain acknowledgements encode to the JSON schedulers always sent, and decode back', () => {
    const acks: [DrainAck, string][] = [
      [{ scheduler: 's1', ok: true, known: true }, '{"scheduler":"s1","ok":true,"known":true}'],
      [{ scheduler: 's1', ok: true, known: false }, '{"scheduler":"s1","ok":true,"known":false}'],
      [{ scheduler: 's1', ok: false, error: 'malformed drain command' }, '{"scheduler":"s1","ok":false,"error":"malformed drain command"}'],
    ];
    for (const [ack, json] of acks) {
      assert.equal(text(encodeDrainAck(ack)), json);
      assert.deepEqual(decodeDrainAck(JSON.parse(json)), ack);
    }
  });

  const BAD_ACKS: [string, unknown][] = [
    ['null', null],
    ['no scheduler', { ok: true, known: true }],
    ['a scheduler that is not a plain id', { scheduler: 's 1', ok: true, known: true }],
    ['ok without known', { scheduler: 's1', ok: true }],
    ['known not a boolean', { scheduler: 's1', ok: true, known: 'yes' }],
    ['ok not a boolean', { scheduler: 's1', ok: 'true', known: true }],
    ['a refusal without its error', { scheduler: 's1', ok: false }],
  ];
  for (const [what, v] of BAD_ACKS) {
    test(`admin - an acknowledgement with ${what} is refused`, () => {
      assert.equal(decodeDrainAck(v), null);
    });
  }
});
