import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { nkeys } from '@nats-io/transport-node';
import { createAccount, createUser, encodeUser, fmtCreds } from '@nats-io/jwt';
import { busAuthMethod, natsOptions, tlsOptions } from '../../cli/nats-options.ts';
import type { BusFlags } from '../../cli/common.ts';
import { makeTestPki, type TestPki } from '../helpers/certs.ts';

const dir = mkdtempSync(join(tmpdir(), 'llmr-bus-flags-'));
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const fn of cleanups) await fn();
  rmSync(dir, { recursive: true, force: true });
});
function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}
const URL_ = 'nats://127.0.0.1:4222';
const flags = (f: Partial<BusFlags> = {}): BusFlags => ({ natsUrl: URL_, logLevel: 'info', ...f });
const WHO = { name: 'scheduler-1', inboxPrefix: '_INBOX_scheduler' };
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('cli-nats-options - ways of authenticating', () => {
  test('cli-nats-options - one way at most: none, a user (and password), a .creds file or an nkey seed', () => {
    assert.equal(busAuthMethod(flags()), 'none');
    assert.equal(busAuthMethod(flags({ natsUser: 'u' })), 'password');
    assert.equal(busAuthMethod(flags({ natsUser: 'u', natsPassword: 'p', natsPasswordFile: '/f' })), 'password');
    assert.equal(busAuthMethod(flags({ natsCreds: '/c' })), 'creds');
    assert.equal(busAuthMethod(flags({ natsNkeySeedFile: '/s' })), 'nkey');
  });

  test('cli-nats-options - two ways at once throw naming both flags and their variables', () => {
    const cases: [Partial<BusFlags>, RegExp][] = [
      [{ natsUser: 'u', natsCreds: '/c' }, /--nats-user \(NATS_USER\) and --nats-creds \(NATS_CREDS\): give one way/],
      [{ natsPassword: 'p', natsNkeySeedFile: '/s' }, /--nats-password \(NATS_PASSWORD\) and --nats-nkey-seed-file \(NATS_NKEY_SEED_FILE\)/],
      [{ natsPasswordFile: '/p', natsCreds: '/c' }, /--nats-password-file \(NATS_PASSWORD_FILE\) and --nats-creds/],
      [{ natsCreds: '/c', natsNkeySeedFile: '/s' }, /--nats-creds \(NATS_CREDS\) and --nats-nkey-seed-file/],
      [{ natsUser: 'u', natsCreds: '/c', natsNkeySeedFile: '/s' }, /--nats-user.*and --nats-creds.*and --nats-nkey-seed-file/],
    ];
    for (const [f, re] of cases) assert.throws(() => busAuthMethod(flags(f)), re);
  });

  test('cli-nats-options - a password without a user is an error, not silently unused', () => {
    assert.throws(() => busAuthMethod(flags({ natsPassword: 'p' })), /--nats-password \(NATS_PASSWORD\) needs --nats-user/);
    assert.throws(() => busAuthMethod(flags({ natsPasswordFile: '/p' })), /--nats-password-file \(NATS_PASSWORD_FILE\) needs --nats-user/);
  });
});

describe('cli-nats-options - secrets into connection options', () => {
  test('cli-nats-options - the password comes from the value, else from the file; no auth gives none', () => {
    const pw = file('pw', 'from-file\n');
    assert.equal(natsOptions(flags({ natsUser: 'u', natsPasswordFile: pw }), WHO).password, 'from-file');
    assert.equal(natsOptions(flags({ natsUser: 'u', natsPassword: 'value', natsPasswordFile: pw }), WHO).password, 'value');
    const o = natsOptions(flags(), WHO);
    assert.deepEqual(o, { servers: URL_, name: WHO.name, inboxPrefix: WHO.inboxPrefix, tls: undefined });
    assert.throws(() => natsOptions(flags({ natsUser: 'u', natsPasswordFile: '/nonexistent/pw' }), WHO), /--nats-password-file \(NATS_PASSWORD_FILE\): cannot read \/nonexistent\/pw/);
  });

  test('cli-nats-options - an nkey seed file gives the seed, re-read at each connect; a bad or non-user seed is refused at start', () => {
    const a = nkeys.createUser();
    const b = nkeys.createUser();
    const seedFile = file('user.nk', `${text(a.getSeed())}\n`);
    const o = natsOptions(flags({ natsNkeySeedFile: seedFile }), WHO);
    assert.equal(text(o.nkeySeed!()), text(a.getSeed()));
    writeFileSync(seedFile, text(b.getSeed()));
    assert.equal(text(o.nkeySeed!()), text(b.getSeed()), 'a rotated seed is picked up');
    unlinkSync(seedFile);
    assert.equal(text(o.nkeySeed!()), text(b.getSeed()), 'a file gone mid-rotation keeps the last seed');
    assert.throws(() => natsOptions(flags({ natsNkeySeedFile: file('bad.nk', 'SUNOTASEED') }), WHO), /--nats-nkey-seed-file \(NATS_NKEY_SEED_FILE\): .*bad\.nk is not an nkey user's seed/);
    assert.throws(() => natsOptions(flags({ natsNkeySeedFile: file('acct.nk', text(nkeys.createAccount().getSeed())) }), WHO), /not an nkey user's seed .*\(not a user seed\)/);
    assert.throws(() => natsOptions(flags({ natsNkeySeedFile: '/nonexistent/u.nk' }), WHO), /--nats-nkey-seed-file.*cannot read \/nonexistent\/u\.nk/);
  });

  test('cli-nats-options - a .creds file is checked at start and re-read at each connect; the error never quotes it', async () => {
    const account = createAccount();
    const user = createUser();
    const jwt = await encodeUser('u', user, account);
    const credsFile = file('u.creds', fmtCreds(jwt, user));
    const o = natsOptions(flags({ natsCreds: credsFile }), WHO);
    assert.match(text(o.creds!()), new RegExp(jwt.replaceAll('.', '\\.')));
    const user2 = createUser();
    const jwt2 = await encodeUser('u2', user2, account);
    writeFileSync(credsFile, fmtCreds(jwt2, user2));
    assert.match(text(o.creds!()), new RegExp(jwt2.replaceAll('.', '\\.')), 'a rotated .creds file is picked up');

    const seed = text(user.getSeed());
    const broken = file('broken.creds', `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n${seed}\n`);
    assert.throws(
      () => natsOptions(flags({ natsCreds: broken }), WHO),
      (e: Error) => /--nats-creds \(NATS_CREDS\): .*broken\.creds is not a \.creds file/.test(e.message) && !e.message.includes(seed) && !e.message.includes(jwt),
    );
    assert.throws(() => natsOptions(flags({ natsCreds: '/nonexistent/u.creds' }), WHO), /--nats-creds \(NATS_CREDS\): cannot read \/nonexistent\/u\.creds \(ENOENT\)/);
  });
});

describe('cli-nats-options - TLS', () => {
  let pki: TestPki;
  before(async () => {
    pki = await makeTestPki({ after: (fn) => cleanups.push(fn) });
  });

  test('cli-nats-options - TLS is asked for by a tls:// URL, a CA or a client certificate, and only then', () => {
    assert.equal(tlsOptions({ natsUrl: URL_ }), undefined);
    assert.deepEqual(tlsOptions({ natsUrl: 'nats://a:4222, tls://b:4222' }), { caFile: undefined, certFile: undefined, keyFile: undefined });
    assert.deepEqual(tlsOptions({ natsUrl: 'TLS://b:4222' }), { caFile: undefined, certFile: undefined, keyFile: undefined });
    assert.deepEqual(tlsOptions({ natsUrl: URL_, natsTlsCa: pki.caFile }), { caFile: pki.caFile, certFile: undefined, keyFile: undefined });
    assert.deepEqual(tlsOptions({ natsUrl: URL_, natsTlsCert: pki.clientCertFile, natsTlsKey: pki.clientKeyFile }), { caFile: undefined, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile });
    assert.deepEqual(natsOptions(flags({ natsTlsCa: pki.caFile }), WHO).tls, { caFile: pki.caFile, certFile: undefined, keyFile: undefined });
  });

  test('cli-nats-options - TLS files that are missing, not PEM, half a pair or not a pair throw naming the option', () => {
    const cases: [Partial<BusFlags>, RegExp][] = [
      [{ natsTlsCa: '/nonexistent/ca.pem' }, /--nats-tls-ca \(NATS_TLS_CA\): cannot read \/nonexistent\/ca\.pem \(ENOENT\)$/],
      [{ natsTlsCa: pki.serverKeyFile }, /--nats-tls-ca \(NATS_TLS_CA\): .* is not a PEM certificate/],
      [{ natsTlsCert: pki.clientCertFile }, /--nats-tls-cert \(NATS_TLS_CERT\) and --nats-tls-key \(NATS_TLS_KEY\) go together/],
      [{ natsTlsKey: pki.clientKeyFile }, /--nats-tls-cert .* and --nats-tls-key .* go together/],
      [{ natsTlsCert: '/nonexistent/c.pem', natsTlsKey: pki.clientKeyFile }, /--nats-tls-cert \(NATS_TLS_CERT\): cannot read/],
      [{ natsTlsCert: pki.clientCertFile, natsTlsKey: '/nonexistent/k.pem' }, /--nats-tls-key \(NATS_TLS_KEY\): cannot read/],
      [{ natsTlsCert: pki.clientCertFile, natsTlsKey: pki.caFile }, /--nats-tls-key \(NATS_TLS_KEY\): .* is not an unencrypted PEM private key/],
      [{ natsTlsCert: pki.clientCertFile, natsTlsKey: pki.strangerKeyFile }, /--nats-tls-key \(NATS_TLS_KEY\): .*stranger\.key is not the key of --nats-tls-cert/],
    ];
    for (const [f, re] of cases) assert.throws(() => tlsOptions({ natsUrl: URL_, ...f }), re, JSON.stringify(f));
  });
});
