// CURVE keys for discover-zmq: the server's public key derived from its secret key (so an
// operator keeps one secret and reads the public half from the log), and the allowed clients'
// public keys read from a file. Keys are Z85 text (40 characters for 32 bytes).
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { z85Decode, z85Encode } from './z85.ts';

/** DER prefix of a PKCS#8 X25519 private key; the 32 key bytes follow. */
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function isCurveKey(text: string): boolean {
  return text.length === 40 && z85Decode(text) !== null;
}

/** The Curve25519 public key of a Z85 secret key, in Z85 (what libzmq's zmq_curve_public computes). */
export function curvePublicKeyOf(secretKey: string): string {
  const raw = isCurveKey(secretKey) ? z85Decode(secretKey) : null;
  if (!raw) throw new RangeError('a CURVE secret key is 40 characters of Z85');
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return z85Encode(spki.subarray(spki.length - 32));
}

export interface CurveClient {
  readonly key: string;
  /** For logs: the rest of the key's line, or the key's first 8 characters. */
  readonly name: string;
}

/**
 * The allowed clients file: one `KEY [name]` a line; blank lines and lines starting with `#` are
 * ignored (no Z85 key starts with `#`: a first character past `%` encodes more than 32 bits). A
 * line that holds no valid key is an error, never skipped: a typo must not silently lock a relay
 * out.
 */
export function parseCurveClients(text: string): CurveClient[] {
  const out: CurveClient[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [key = '', ...rest] = line.split(/\s+/);
    if (!isCurveKey(key)) throw new RangeError(`line ${i + 1}: not a Z85 CURVE public key (40 characters)`);
    out.push({ key, name: rest.join(' ') || key.slice(0, 8) });
  }
  return out;
}
