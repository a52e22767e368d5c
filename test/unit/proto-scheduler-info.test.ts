import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeJson } from '../../proto/codec.ts';
import { decodeSchedulerInfo, encodeSchedulerInfo, type SchedulerInfo } from '../../proto/scheduler-info.ts';

const INFO: SchedulerInfo = { scheduler: 'sched-1', models: [{ id: 'meta-llama/Llama-3.1-8B-Instruct', workers: 2 }], readyWorkers: 2, workers: 3, peers: ['sched-2'] };

describe('scheduler-info', () => {
  test('scheduler-info - encodes to the JSON schedulers always sent, and decodes back', () => {
    const bytes = encodeSchedulerInfo(INFO);
    assert.equal(new TextDecoder().decode(bytes), '{"scheduler":"sched-1","models":[{"id":"meta-llama/Llama-3.1-8B-Instruct","workers":2}],"readyWorkers":2,"workers":3,"peers":["sched-2"]}');
    assert.deepEqual(decodeSchedulerInfo(bytes), INFO);
  });

  test('scheduler-info - an empty fleet and fields it does not know are accepted', () => {
    const empty = { scheduler: 's', models: [], readyWorkers: 0, workers: 0, peers: [] };
    assert.deepEqual(decodeSchedulerInfo(encodeJson(empty)), empty);
    assert.ok(decodeSchedulerInfo(encodeJson({ ...empty, region: 'eu' })));
  });

  const BROKEN: [string, unknown][] = [
    ['null', null],
    ['an array', []],
    ['no scheduler', { ...INFO, scheduler: undefined }],
    ['a scheduler that is not a plain id', { ...INFO, scheduler: 'a.b' }],
    ['models not an array', { ...INFO, models: {} }],
    ['a model without an id', { ...INFO, models: [{ workers: 1 }] }],
    ['a model with a negative worker count', { ...INFO, models: [{ id: 'm', workers: -1 }] }],
    ['readyWorkers a string', { ...INFO, readyWorkers: '2' }],
    ['no readyWorkers', { ...INFO, readyWorkers: undefined }],
    ['fractional workers', { ...INFO, workers: 1.5 }],
    ['peers not an array', { ...INFO, peers: 'sched-2' }],
    ['a peer that is not a plain id', { ...INFO, peers: ['a b'] }],
  ];
  for (const [what, v] of BROKEN) {
    test(`scheduler-info - ${what} is refused`, () => {
      assert.equal(decodeSchedulerInfo(encodeJson(v)), null);
    });
  }

  test('scheduler-info - bytes that are not UTF-8 JSON are refused', () => {
    assert.equal(decodeSchedulerInfo(new Uint8Array()), null);
    assert.equal(decodeSchedulerInfo(new TextEncoder().encode('not json')), null);
  });
});
