import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { AllowList } from '../../runtime/address-allow.ts';
import { addressesRefusal, decodeRegistration, ZmqRegistry, type Registration } from '../../adapters/zmq-registration.ts';

const reg = (http: string, zmq = '10.0.0.1:21001', type: 'P' | 'D' = 'D'): Registration => ({ type, httpAddress: http, zmqAddress: zmq });

describe('zmq registration', () => {
  test('zmq registration - decodes what vLLM sends, refuses the rest with a reason', () => {
    assert.deepEqual(decodeRegistration(encode({ type: 'P', http_address: '10.0.0.1:8000', zmq_address: '10.0.0.1:21001', extra: 1 })), {
      ok: true,
      value: reg('10.0.0.1:8000', '10.0.0.1:21001', 'P'),
    });
    for (const bad of [
      encode([1, 2]),
      encode({ type: 'X', http_address: 'a:1', zmq_address: 'b:2' }),
      encode({ type: 'D', http_address: 'a', zmq_address: 'b:2' }),
      encode({ type: 'D', http_address: 'a:0', zmq_address: 'b:2' }),
      Buffer.from([0xc1]),
      new Uint8Array(64 * 1024 + 1),
    ]) {
      assert.equal(decodeRegistration(bad).ok, false);
    }
  });

  test('zmq registration - the cap refuses new instances but lets known ones refresh and change', () => {
    const r = new ZmqRegistry(1000, 2);
    assert.equal(r.register(reg('10.0.0.1:8000'), 0), 'added');
    assert.equal(r.register(reg('10.0.0.2:8000'), 0), 'added');
    assert.equal(r.full, true);
    assert.equal(r.register(reg('10.0.0.3:8000'), 0), 'full');
    assert.equal(r.get('10.0.0.3:8000'), undefined);
    assert.equal(r.register(reg('10.0.0.1:8000'), 500), 'refreshed');
    assert.equal(r.register(reg('10.0.0.2:8000', '10.0.0.2:21002'), 500), 'changed');
    assert.equal(r.size, 2);
    // An expired instance makes room.
    r.register(reg('10.0.0.1:8000'), 1200);
    assert.deepEqual(
      r.expire(1600).map((i) => i.httpAddress),
      ['10.0.0.2:8000'],
    );
    assert.equal(r.register(reg('10.0.0.3:8000'), 1600), 'added');
  });

  test('zmq registration - with an allow list both addresses must be IPs inside it', () => {
    const allow = new AllowList(['10.0.0.0/8', 'fd00::/8']);
    assert.equal(addressesRefusal(reg('10.0.0.1:8000', '10.0.0.1:21001'), allow), null);
    assert.equal(addressesRefusal(reg('[fd00::1]:8000', '10.0.0.1:21001'), allow), null);
    assert.match(addressesRefusal(reg('169.254.169.254:80'), allow) ?? '', /http_address/);
    assert.match(addressesRefusal(reg('10.0.0.1:8000', '203.0.113.9:21001'), allow) ?? '', /zmq_address/);
    assert.match(addressesRefusal(reg('gpu-1:8000'), allow) ?? '', /http_address/);
    assert.equal(addressesRefusal(reg('anything.example:8000', 'x:1'), null), null, 'no list: as before');
  });
});
