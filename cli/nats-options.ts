// The bus flags as connection options: TLS files and the one way of authenticating (user and
// password, a .creds file, an nkey seed), checked when the process starts so that a missing file
// or two ways at once stop it with the option named, before any I/O to NATS. Secrets are read
// from the environment or files (readSecret) and never put in messages.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { credsAuthenticator, nkeys } from '@nats-io/transport-node';
import type { NatsOptions, NatsTls } from '../runtime/nats.ts';
import type { BusFlags } from './common.ts';
import { readSecret } from './secrets.ts';

/** How each bus flag is named in errors: the flag and its environment variable. */
export const BUS_FLAG_NAMES = Object.freeze({
  natsUser: '--nats-user (NATS_USER)',
  natsPassword: '--nats-password (NATS_PASSWORD)',
  natsPasswordFile: '--nats-password-file (NATS_PASSWORD_FILE)',
  natsCreds: '--nats-creds (NATS_CREDS)',
  natsNkeySeedFile: '--nats-nkey-seed-file (NATS_NKEY_SEED_FILE)',
  natsTlsCa: '--nats-tls-ca (NATS_TLS_CA)',
  natsTlsCert: '--nats-tls-cert (NATS_TLS_CERT)',
  natsTlsKey: '--nats-tls-key (NATS_TLS_KEY)',
});
const N = BUS_FLAG_NAMES;

export type BusAuthMethod = 'none' | 'password' | 'creds' | 'nkey';
export type TlsFlags = Pick<BusFlags, 'natsUrl' | 'natsTlsCa' | 'natsTlsCert' | 'natsTlsKey'>;

function passwordFlag(f: BusFlags): string | undefined {
  if (f.natsPassword) return N.natsPassword;
  if (f.natsPasswordFile) return N.natsPasswordFile;
  return undefined;
}

/** Which way of authenticating the flags ask for (no I/O). Two ways, or a password without a user, throw naming the flags. */
export function busAuthMethod(f: BusFlags): BusAuthMethod {
  const password = passwordFlag(f);
  const ways: [BusAuthMethod, string][] = [];
  if (f.natsUser || password) ways.push(['password', f.natsUser ? N.natsUser : password!]);
  if (f.natsCreds) ways.push(['creds', N.natsCreds]);
  if (f.natsNkeySeedFile) ways.push(['nkey', N.natsNkeySeedFile]);
  if (ways.length > 1) {
    throw new Error(`${ways.map(([, flag]) => flag).join(' and ')}: give one way of authenticating to NATS (a user and password, a .creds file or an nkey seed file)`);
  }
  if (password && !f.natsUser) throw new Error(`${password} needs ${N.natsUser}`);
  return ways[0]?.[0] ?? 'none';
}

function pem<T>(what: string, file: string, kind: string, parse: (text: string) => T): T {
  const text = readSecret({ file, what })!;
  try {
    return parse(text);
  } catch (e) {
    throw new Error(`${what}: ${file} is not ${kind} (${(e as Error).message})`);
  }
}

/**
 * TLS options for a connection to NATS, or undefined when TLS is not asked for: a `tls://` URL, a
 * CA or a client certificate asks for it. Checks that the files exist and parse, and that the key
 * is the certificate's. For any connection built from the bus flags (the ingress's admin one too).
 */
export function tlsOptions(f: TlsFlags): NatsTls | undefined {
  const { natsTlsCa: ca, natsTlsCert: cert, natsTlsKey: key } = f;
  if (Boolean(cert) !== Boolean(key)) throw new Error(`${N.natsTlsCert} and ${N.natsTlsKey} go together: a client certificate and its key`);
  const tlsUrl = f.natsUrl.split(',').some((u) => /^\s*tls:\/\//i.test(u));
  if (!tlsUrl && !ca && !cert) return undefined;
  if (ca) pem(N.natsTlsCa, ca, 'a PEM certificate', (t) => new X509Certificate(t));
  if (cert && key) {
    const x509 = pem(N.natsTlsCert, cert, 'a PEM certificate', (t) => new X509Certificate(t));
    const k: KeyObject = pem(N.natsTlsKey, key, 'an unencrypted PEM private key', (t) => createPrivateKey(t));
    if (!x509.checkPrivateKey(k)) throw new Error(`${N.natsTlsKey}: ${key} is not the key of ${N.natsTlsCert} ${cert}`);
  }
  return { caFile: ca, certFile: cert, keyFile: key };
}

const encoder = new TextEncoder();

/**
 * The file's content at each (re)connect, so that a rotated file (a new user JWT before the old one
 * expires) takes effect without a restart; the last good content while it cannot be read.
 */
function atEachConnect(file: string, what: string, first: Uint8Array, encode: (text: string) => Uint8Array): () => Uint8Array {
  let last = first;
  return () => {
    try {
      last = encode(readSecret({ file, what })!);
    } catch {
      // a rotation in progress: keep the last content; the server judges it
    }
    return last;
  };
}

// readSecret trims the last newline, which ends a .creds file's last block.
const credsBytes = (text: string): Uint8Array => encoder.encode(`${text}\n`);

function checkedCreds(file: string): () => Uint8Array {
  const what = N.natsCreds;
  const bytes = pem(what, file, 'a .creds file (a user JWT and an nkey seed)', (t) => {
    const b = credsBytes(t);
    const auth = credsAuthenticator(b)('check') as { jwt?: string; nkey?: string };
    if (!auth.jwt || !auth.nkey?.startsWith('U')) throw new Error('no user JWT or no user seed');
    return b;
  });
  return atEachConnect(file, what, bytes, credsBytes);
}

function checkedSeed(file: string): () => Uint8Array {
  const what = N.natsNkeySeedFile;
  const bytes = pem(what, file, "an nkey user's seed (SU…)", (t) => {
    const b = encoder.encode(t.trim());
    if (!nkeys.fromSeed(b).getPublicKey().startsWith('U')) throw new Error('not a user seed');
    return b;
  });
  return atEachConnect(file, what, bytes, (t) => encoder.encode(t.trim()));
}

/** Connection options from the bus flags, for the process `who`. Throws naming the flag at fault. */
export function natsOptions(f: BusFlags, who: { name: string; inboxPrefix: string }): NatsOptions {
  const method = busAuthMethod(f);
  const base = { servers: f.natsUrl, name: who.name, inboxPrefix: who.inboxPrefix, tls: tlsOptions(f) };
  switch (method) {
    case 'password':
      return { ...base, user: f.natsUser, password: readSecret({ value: f.natsPassword, file: f.natsPasswordFile, what: N.natsPasswordFile }) };
    case 'creds':
      return { ...base, creds: checkedCreds(f.natsCreds!) };
    case 'nkey':
      return { ...base, nkeySeed: checkedSeed(f.natsNkeySeedFile!) };
    case 'none':
      return base;
  }
}
