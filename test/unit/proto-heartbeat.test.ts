import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeHeartbeat, encodeHeartbeat, validateHeartbeat, type Heartbeat } from '../../proto/heartbeat.ts';
import { heartbeat } from '../helpers/fixtures.ts';

function valid(): Heartbeat {
  return heartbeat('w-1', {
    url: 'http://10.0.0.5:8000',
    region: 'eu-west',
    connector: { kind: 'nixl' },
    load: { running: 3, waiting: 1, kvUsage: 0.42 },
    kv: { blockSize: 16, numBlocks: 27000 },
    seq: 7,
    sentAt: 1_700_000_000_000,
  });
}

/** A copy of the valid heartbeat with `path` set to `value` (undefined: the field removed). */
function broken(path: string, value: unknown): Record<string, unknown> {
  const hb = structuredClone(valid()) as unknown as Record<string, unknown>;
  const keys = path.split('.');
  let o = hb;
  for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
  const last = keys.at(-1)!;
  if (value === undefined) delete o[last];
  else o[last] = value;
  return hb;
}

const BROKEN: [string, unknown][] = [
  ['v', undefined],
  ['v', 2],
  ['v', '1'],
  ['id', undefined],
  ['id', ''],
  ['id', 'a.b'],
  ['id', 'w 1'],
  ['id', 'x'.repeat(129)],
  ['url', undefined],
  ['url', 'ftp://host:21'],
  ['url', '10.0.0.5:8000'],
  ['url', 'http://'],
  ['url', 'http://host name'],
  ['region', undefined],
  ['region', 'eu.west'],
  ['models', undefined],
  ['models', []],
  ['models', 'm'],
  ['models', ['']],
  ['models', [7]],
  ['role', undefined],
  ['role', 'worker'],
  ['connector', undefined],
  ['connector.kind', 'mooncake'],
  ['connector.zmqAddress', 'no-port'],
  ['connector.zmqAddress', 'host:port'],
  ['state', undefined],
  ['state', 'up'],
  ['load', undefined],
  ['load.running', -1],
  ['load.running', 1.5],
  ['load.running', '3'],
  ['load.waiting', undefined],
  ['load.kvUsage', 1.5],
  ['load.kvUsage', -0.1],
  ['kv', undefined],
  ['kv.blockSize', 0],
  ['kv.numBlocks', -1],
  ['seq', undefined],
  ['seq', -1],
  ['seq', 0.5],
  ['sentAt', undefined],
  ['sentAt', -1],
  ['sentAt', '2024-01-01'],
  ['intervalMs', undefined],
  ['intervalMs', 5],
  ['intervalMs', 600_001],
  ['intervalMs', 1000.5],
];

describe('heartbeat', () => {
  test('heartbeat - a valid heartbeat passes', () => {
    const r = validateHeartbeat(valid());
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.deepEqual(r.value, valid());
  });

  test('heartbeat - optional and extra fields are accepted', () => {
    const hb = { ...valid(), connector: { kind: 'p2p-nccl', zmqAddress: '10.0.0.5:14579' }, state: 'draining', extra: { x: 1 } };
    assert.equal(validateHeartbeat(hb).ok, true);
    assert.equal(validateHeartbeat({ ...valid(), state: 'unhealthy' }).ok, true);
    assert.equal(validateHeartbeat({ ...valid(), url: 'https://worker.example:8443/base/' }).ok, true);
    assert.equal(validateHeartbeat({ ...valid(), connector: { kind: 'p2p-nccl', zmqAddress: '[fd00::5]:21001' } }).ok, true, 'IPv6 in brackets');
    assert.equal(validateHeartbeat({ ...valid(), connector: { kind: 'p2p-nccl', zmqAddress: 'fd00::5:21001' } }).ok, false, 'IPv6 without brackets is ambiguous');
  });

  test('heartbeat - encode then decode gives it back', () => {
    const r = decodeHeartbeat(encodeHeartbeat(valid()));
    assert.ok(r.ok);
    assert.deepEqual(r.value, valid());
  });

  for (const [path, value] of BROKEN) {
    const what = value === undefined ? 'missing' : JSON.stringify(value);
    test(`heartbeat - ${path} ${what} is rejected with a reason`, () => {
      const r = validateHeartbeat(broken(path, value));
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.reason.length > 0);
      // The reason names where the problem is.
      const top = path.split('.')[0]!;
      assert.ok(!r.ok && r.reason.includes(`/${top}`), `reason ${JSON.stringify(!r.ok && r.reason)} should name /${top}`);
      // And the same bytes are rejected on receipt.
      assert.equal(decodeHeartbeat(new TextEncoder().encode(JSON.stringify(broken(path, value)))).ok, false);
    });
  }

  for (const v of [null, 42, 'heartbeat', [valid()], undefined]) {
    test(`heartbeat - ${JSON.stringify(v) ?? 'undefined'} is not a heartbeat`, () => {
      const r = validateHeartbeat(v);
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.reason.length > 0);
    });
  }

  test('heartbeat - non-JSON is rejected', () => {
    for (const text of ['', '{', 'not json', '{"v":1,}']) {
      const r = decodeHeartbeat(new TextEncoder().encode(text));
      assert.equal(r.ok, false);
      assert.match(!r.ok ? r.reason : '', /^not JSON/);
    }
  });

  test('heartbeat - invalid UTF-8 is rejected even when the rest is a valid heartbeat', () => {
    const good = encodeHeartbeat({ ...valid(), models: ['AB'] });
    const i = Buffer.from(good).indexOf('AB');
    const bytes = Uint8Array.from(good);
    bytes[i] = 0xc3; // a lead byte…
    bytes[i + 1] = 0x28; // …followed by a non-continuation byte
    const r = decodeHeartbeat(bytes);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : '', /^not JSON/);
    assert.equal(decodeHeartbeat(Uint8Array.from([0xff, 0xfe])).ok, false);
  });
});
