// discover-zmq options: one defaults table, validated once, frozen. The raw form carries what an
// operator wrote (CIDR strings, Z85 keys); the validated form carries what the bridge checks
// against (an AllowList, the CURVE key pair, the allowed client keys).
import { AllowList } from '../runtime/address-allow.ts';
import { curvePublicKeyOf, isCurveKey, type CurveClient } from './curve-keys.ts';

export interface CurveServerInput {
  /** The server's Z85 secret key. */
  readonly secretKey: string;
  /** Its public key; when given it must match the one derived from the secret key. */
  readonly publicKey?: string | undefined;
  /** Public keys allowed to register (at least one). */
  readonly clients: readonly CurveClient[];
}

export interface DiscoverInput {
  /** `tcp://0.0.0.0:30001`; `tcp://[::]:30001` for IPv6. */
  readonly bind: string;
  readonly ttlMs: number;
  readonly models?: readonly string[] | undefined;
  /** Live instances at most; registrations of further ones are refused. */
  readonly maxInstances?: number | undefined;
  /** Largest frame libzmq accepts; a larger one disconnects the peer before it is buffered. */
  readonly maxMessageBytes?: number | undefined;
  /** CIDRs registrants must connect from and name addresses in; null or empty: anyone. */
  readonly allow?: readonly string[] | null | undefined;
  readonly curve?: CurveServerInput | null | undefined;
}

export const DISCOVER_DEFAULTS = Object.freeze({
  bind: 'tcp://0.0.0.0:30001',
  ttlMs: 5000,
  maxInstances: 1024,
  // A registration is a msgpack map of three short strings: about a hundred bytes.
  maxMessageBytes: 64 * 1024,
} as const);

export interface DiscoverOptions {
  readonly bind: string;
  readonly ttlMs: number;
  readonly models?: readonly string[] | undefined;
  readonly maxInstances: number;
  readonly maxMessageBytes: number;
  readonly allow: AllowList | null;
  readonly curve: { readonly secretKey: string; readonly publicKey: string; readonly clients: ReadonlyMap<string, string> } | null;
}

export function validateDiscoverOptions(o: DiscoverInput): Readonly<DiscoverOptions> {
  const bad = (what: string): never => {
    throw new RangeError(`invalid discover-zmq option ${what}`);
  };
  if (!/^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5}|\*)$/.test(o.bind)) bad(`bind ${JSON.stringify(o.bind)}: expected tcp://HOST:PORT`);
  if (!Number.isInteger(o.ttlMs) || o.ttlMs < 100) bad(`ttlMs ${o.ttlMs}: an integer of at least 100`);
  const maxInstances = o.maxInstances ?? DISCOVER_DEFAULTS.maxInstances;
  if (!Number.isInteger(maxInstances) || maxInstances < 1) bad(`maxInstances ${maxInstances}: a positive integer`);
  const maxMessageBytes = o.maxMessageBytes ?? DISCOVER_DEFAULTS.maxMessageBytes;
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 256 || maxMessageBytes > 16 * 1024 * 1024) bad(`maxMessageBytes ${maxMessageBytes}: 256 to 16 MiB`);
  let allow: AllowList | null = null;
  if (o.allow && o.allow.length > 0) {
    try {
      allow = new AllowList(o.allow);
    } catch (e) {
      bad(`allow: ${(e as Error).message}`);
    }
  }
  let curve: DiscoverOptions['curve'] = null;
  if (o.curve) {
    if (!isCurveKey(o.curve.secretKey)) bad('curve secret key: 40 characters of Z85');
    const publicKey = curvePublicKeyOf(o.curve.secretKey);
    if (o.curve.publicKey !== undefined && o.curve.publicKey !== publicKey) bad('curve public key: it does not belong to the secret key');
    // CURVE without a list of clients would encrypt but let anyone with the server's public key in.
    if (o.curve.clients.length === 0) bad('curve clients: at least one allowed client key');
    for (const c of o.curve.clients) if (!isCurveKey(c.key)) bad(`curve client ${JSON.stringify(c.name)}: not a Z85 public key`);
    curve = Object.freeze({ secretKey: o.curve.secretKey, publicKey, clients: new Map(o.curve.clients.map((c) => [c.key, c.name])) });
  }
  return Object.freeze({ bind: o.bind, ttlMs: o.ttlMs, models: o.models, maxInstances, maxMessageBytes, allow, curve });
}
