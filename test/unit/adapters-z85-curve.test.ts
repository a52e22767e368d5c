import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { curveKeyPair } from 'zeromq';
import { curvePublicKeyOf, isCurveKey, parseCurveClients } from '../../adapters/curve-keys.ts';
import { z85Decode, z85Encode } from '../../adapters/z85.ts';

describe('z85 and CURVE keys', () => {
  test('z85 - the RFC 32 test vector, both ways', () => {
    const bytes = Uint8Array.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
    assert.equal(z85Encode(bytes), 'HelloWorld');
    assert.deepEqual(z85Decode('HelloWorld'), bytes);
  });

  test('z85 - refuses what is not Z85', () => {
    assert.equal(z85Decode('Hello'.slice(0, 4)), null, 'not a multiple of 5');
    assert.equal(z85Decode('Hello Worl'), null, 'a space is outside the alphabet');
    assert.equal(z85Decode('%%%%%'), null, 'more than 32 bits');
    assert.throws(() => z85Encode(new Uint8Array(3)), RangeError);
  });

  test('curve - the public key derived from a secret key is the one libzmq made with it', () => {
    for (let i = 0; i < 5; i++) {
      const kp = curveKeyPair();
      assert.equal(curvePublicKeyOf(kp.secretKey), kp.publicKey);
      assert.ok(isCurveKey(kp.publicKey));
    }
    assert.throws(() => curvePublicKeyOf('short'), /40 characters/);
  });

  test('curve - the clients file: keys with optional names, comments and blank lines', () => {
    const a = curveKeyPair().publicKey;
    const b = curveKeyPair().publicKey;
    const clients = parseCurveClients(`# relays on the GPU hosts\n\n${a} gpu-1 relay\r\n  ${b}\n#${a}\n`);
    assert.deepEqual(clients, [
      { key: a, name: 'gpu-1 relay' },
      { key: b, name: b.slice(0, 8) },
    ]);
  });

  test('curve - a line that is not a key is an error naming the line, never skipped', () => {
    assert.throws(() => parseCurveClients(`${curveKeyPair().publicKey}\nnot-a-key\n`), /line 2/);
    assert.equal(z85Decode(`#${'0'.repeat(39)}`), null, 'no key starts with #, so # starts a comment');
  });
});
