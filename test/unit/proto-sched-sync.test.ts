import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeJson } from '../../proto/codec.ts';
import { checkSyncMessage, decodeSyncMessage, encodeSyncMessage, type SyncMessage } from '../../proto/sched-sync.ts';
import { InflightTracker } from '../../scheduler/inflight.ts';

describe('sched-sync', () => {
  const JUNK: [string, unknown][] = [
    ['null', null],
    ['a string', 'sync'],
    ['an array', []],
    ['no from', { full: true, counts: {}, sentAt: 1 }],
    ['from not a string', { from: 1, full: true, counts: {}, sentAt: 1 }],
    ['from not a plain id', { from: 's.1', full: true, counts: {}, sentAt: 1 }],
    ['full not a boolean', { from: 's', full: 'yes', counts: {}, sentAt: 1 }],
    ['no sentAt', { from: 's', full: true, counts: {} }],
    ['sentAt a string', { from: 's', full: true, counts: {}, sentAt: '1' }],
    ['counts null', { from: 's', full: true, counts: null, sentAt: 1 }],
    ['counts an array', { from: 's', full: true, counts: [1], sentAt: 1 }],
    ['a negative count', { from: 's', full: true, counts: { w: -1 }, sentAt: 1 }],
    ['a fractional count', { from: 's', full: true, counts: { w: 1.5 }, sentAt: 1 }],
    ['a string count', { from: 's', full: true, counts: { w: '1' }, sentAt: 1 }],
    ['a huge count', { from: 's', full: true, counts: { w: 1e9 }, sentAt: 1 }],
    ['tokens an array', { from: 's', full: true, counts: {}, tokens: [], sentAt: 1 }],
    ['tokens not a pair', { from: 's', full: true, counts: { w: 1 }, tokens: { w: [1] }, sentAt: 1 }],
    ['tokens a triple', { from: 's', full: true, counts: { w: 1 }, tokens: { w: [1, 2, 3] }, sentAt: 1 }],
    ['negative tokens', { from: 's', full: true, counts: { w: 1 }, tokens: { w: [-1, 0] }, sentAt: 1 }],
    ['fractional tokens', { from: 's', full: true, counts: { w: 1 }, tokens: { w: [0, 0.5] }, sentAt: 1 }],
    ['string tokens', { from: 's', full: true, counts: { w: 1 }, tokens: { w: ['1', 0] }, sentAt: 1 }],
    ['huge tokens', { from: 's', full: true, counts: { w: 1 }, tokens: { w: [1e12, 0] }, sentAt: 1 }],
  ];
  for (const [what, v] of JUNK) {
    test(`sched-sync - a message with ${what} is refused`, () => {
      assert.equal(checkSyncMessage(v), null);
      assert.equal(decodeSyncMessage(encodeJson(v)), null);
    });
  }

  const GOOD: [string, unknown][] = [
    ['no tokens (an older replica)', { from: 's2', full: false, counts: {}, sentAt: 1 }],
    ['tokens', { from: 's2', full: false, counts: { w: 2 }, tokens: { w: [1200, 0] }, sentAt: 1 }],
    ['worker ids such as constructor', JSON.parse('{"from":"s2","full":true,"counts":{"constructor":1,"__proto__":2},"sentAt":1}')],
    ['fields it does not know (a newer replica)', { from: 's2', full: true, counts: {}, sentAt: 1, region: 'eu' }],
  ];
  for (const [what, v] of GOOD) {
    test(`sched-sync - a message with ${what} is accepted`, () => {
      assert.ok(checkSyncMessage(v));
      assert.deepEqual(decodeSyncMessage(encodeJson(v)), JSON.parse(JSON.stringify(v)));
    });
  }

  test('sched-sync - bytes that are not UTF-8 JSON are refused', () => {
    assert.equal(decodeSyncMessage(new Uint8Array()), null);
    assert.equal(decodeSyncMessage(new TextEncoder().encode('{"from":')), null);
    assert.equal(decodeSyncMessage(Uint8Array.of(0x7b, 0xff, 0x7d)), null);
  });

  test("sched-sync - a tracker's snapshot encodes to the JSON it always had and decodes back", () => {
    const t = new InflightTracker('s1', () => 42);
    t.start('w1', 100, 20);
    t.inc('w2');
    const m: SyncMessage = t.snapshot(true);
    const bytes = encodeSyncMessage(m);
    assert.equal(new TextDecoder().decode(bytes), '{"from":"s1","full":true,"counts":{"w1":1,"w2":1},"tokens":{"w1":[100,0],"w2":[0,0]},"sentAt":42}');
    assert.deepEqual(decodeSyncMessage(bytes), m);
  });
});
