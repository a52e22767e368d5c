import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { curveKeyPair } from 'zeromq';
import { AllowList } from '../../runtime/address-allow.ts';
import { parseZapRequest, zapVerdict, type ZapPolicy } from '../../adapters/zap-handler.ts';
import { z85Decode } from '../../adapters/z85.ts';

function request(address: string, mechanism = 'NULL', key?: Uint8Array): Buffer[] {
  return [Buffer.from('1.0'), Buffer.from('7'), Buffer.from('llm-router'), Buffer.from(address), Buffer.alloc(0), Buffer.from(mechanism), ...(key ? [Buffer.from(key)] : [])];
}

describe('ZAP', () => {
  test('zap - a request is parsed, the CURVE key turned into Z85', () => {
    const kp = curveKeyPair();
    const r = parseZapRequest(request('10.0.0.5', 'CURVE', z85Decode(kp.publicKey)!));
    assert.equal(r?.address, '10.0.0.5');
    assert.equal(r?.mechanism, 'CURVE');
    assert.equal(r?.clientKey, kp.publicKey);
    assert.equal(r?.requestId.toString(), '7');
    assert.equal(parseZapRequest([Buffer.from('2.0'), ...request('x').slice(1)]), null);
    assert.equal(parseZapRequest(request('x').slice(0, 4)), null);
  });

  test('zap - the source must be inside the allow list', () => {
    const p: ZapPolicy = { allow: new AllowList(['10.0.0.0/8']), curveClients: null };
    assert.equal(zapVerdict(parseZapRequest(request('10.0.0.5'))!, p).ok, true);
    assert.deepEqual(zapVerdict(parseZapRequest(request('192.168.0.5'))!, p), { ok: false, reason: 'source', detail: '192.168.0.5 is outside the allow list' });
    assert.equal(zapVerdict(parseZapRequest(request('192.168.0.5'))!, { allow: null, curveClients: null }).ok, true);
  });

  test('zap - with CURVE, only listed keys, and never the NULL mechanism', () => {
    const known = curveKeyPair();
    const stranger = curveKeyPair();
    const p: ZapPolicy = { allow: null, curveClients: new Map([[known.publicKey, 'relay-1']]) };
    assert.deepEqual(zapVerdict(parseZapRequest(request('10.0.0.5', 'CURVE', z85Decode(known.publicKey)!))!, p), { ok: true, user: 'relay-1' });
    assert.equal(zapVerdict(parseZapRequest(request('10.0.0.5', 'CURVE', z85Decode(stranger.publicKey)!))!, p).ok, false);
    assert.equal((zapVerdict(parseZapRequest(request('10.0.0.5', 'CURVE'))!, p) as { reason: string }).reason, 'curve-key');
    assert.equal((zapVerdict(parseZapRequest(request('10.0.0.5', 'NULL'))!, p) as { reason: string }).reason, 'mechanism');
    const both: ZapPolicy = { ...p, allow: new AllowList(['10.0.0.0/8']) };
    assert.equal((zapVerdict(parseZapRequest(request('11.0.0.5', 'CURVE', z85Decode(known.publicKey)!))!, both) as { reason: string }).reason, 'source', 'a listed key from outside the list');
  });
});
