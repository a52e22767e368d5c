// TLS to NATS (server-verified and mutual), nkey users and .creds files (operator mode), and the
// start-up checks of those bus flags, each against a real nats-server started here: the PKI is made
// here with openssl, the operator/account/user JWTs with @nats-io/jwt. What a client without the
// right certificate, seed or signature must NOT get is asserted beside what the right one gets.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { nkeys, type NatsConnection } from '@nats-io/transport-node';
import { createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { connectNats, type NatsOptions } from '../../runtime/nats.ts';
import { createLogger } from '../../runtime/logger.ts';
import { natsOptions } from '../../cli/nats-options.ts';
import type { BusFlags } from '../../cli/common.ts';
import { makeTestPki, type TestPki } from '../helpers/certs.ts';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.ts';
import { cleanupScope } from '../helpers/stack.ts';
import { spawnRouter, waitForOutput, type RouterProcess } from '../helpers/processes.ts';

const log = createLogger('test', 'silent');
// Every test is bounded: a refusal must come as an error, never as a wait (bounds far above a
// loaded machine's handshakes).
const BOUNDED = { timeout: 60_000 };
const WHO = { name: 'nats-auth-test', inboxPrefix: '_INBOX_test' };

// Servers, PKI and secret files live as long as the file's suites.
const scope = cleanupScope();
after(() => scope.run());

async function tempFile(name: string, content: string | Uint8Array): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llmr-secret-'));
  scope.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, name);
  await writeFile(file, content, { mode: 0o600 });
  return file;
}

const flags = (f: Partial<BusFlags> & { natsUrl: string }): BusFlags => ({ logLevel: 'silent', ...f });

async function open(o: NatsOptions): Promise<NatsConnection> {
  return connectNats({ connectTimeoutMs: 5000, ...o }, log);
}

/** A request through the server and back: the connection carries traffic, not just a handshake. */
async function roundTrip(nc: NatsConnection): Promise<void> {
  const sub = nc.subscribe('nats-auth.echo');
  void (async () => {
    for await (const m of sub) m.respond(m.data);
  })();
  const r = await nc.request('nats-auth.echo', 'ping', { timeout: 10_000 });
  assert.equal(r.string(), 'ping');
  sub.unsubscribe();
}

async function connectsAndRoundTrips(o: NatsOptions): Promise<void> {
  const nc = await open(o);
  try {
    await roundTrip(nc);
  } finally {
    await nc.close();
  }
}

function tlsConf(pki: TestPki, verify: boolean): string {
  return `tls {\n  cert_file: "${pki.serverCertFile}"\n  key_file: "${pki.serverKeyFile}"\n  ca_file: "${pki.caFile}"\n  verify: ${verify}\n  timeout: 5\n}\n`;
}

describe('nats-auth - TLS', () => {
  let pki: TestPki;
  let tlsServer: NatsServer;
  let mtlsServer: NatsServer;
  let plainServer: NatsServer;
  before(async () => {
    pki = await makeTestPki(scope);
    tlsServer = await startNatsServer(scope, { jetstream: false, extraConfig: tlsConf(pki, false) });
    mtlsServer = await startNatsServer(scope, { jetstream: false, extraConfig: tlsConf(pki, true) });
    plainServer = await startNatsServer(scope, { jetstream: false });
  });
  const tlsUrl = (s: NatsServer): string => `tls://127.0.0.1:${s.port}`;

  test('nats-auth - TLS with the CA (--nats-tls-ca) connects to a server certified for its IP, and a request round-trips', BOUNDED, async () => {
    await connectsAndRoundTrips(natsOptions(flags({ natsUrl: tlsServer.url, natsTlsCa: pki.caFile }), WHO));
    await connectsAndRoundTrips(natsOptions(flags({ natsUrl: tlsUrl(tlsServer), natsTlsCa: pki.caFile }), WHO));
  });

  test('nats-auth - TLS without our CA refuses the server with a certificate error, and does not hang', BOUNDED, async () => {
    // tls:// alone: the system's CAs, which never signed the test CA
    await assert.rejects(open(natsOptions(flags({ natsUrl: tlsUrl(tlsServer) }), WHO)), /certificate/i);
    await assert.rejects(open(natsOptions(flags({ natsUrl: tlsUrl(tlsServer), natsTlsCa: pki.otherCaFile }), WHO)), /certificate/i);
    // no TLS flag at all: nats.js still upgrades to the server's TLS, and must still verify it
    await assert.rejects(open(natsOptions(flags({ natsUrl: tlsServer.url }), WHO)), /certificate/i);
  });

  test('nats-auth - TLS asked for (a tls:// URL) is never dropped for a server without TLS', BOUNDED, async () => {
    await assert.rejects(open(natsOptions(flags({ natsUrl: tlsUrl(plainServer) }), WHO)), /does not offer it/);
    await assert.rejects(open(natsOptions(flags({ natsUrl: plainServer.url, natsTlsCa: pki.caFile }), WHO)), /does not offer it/);
  });

  test("nats-auth - a server that verifies clients refuses a client without a certificate or with a stranger CA's, and accepts ours", BOUNDED, async () => {
    await assert.rejects(open(natsOptions(flags({ natsUrl: tlsUrl(mtlsServer), natsTlsCa: pki.caFile }), WHO)), /TLS handshake failed.*certificate/i);
    await assert.rejects(
      open(natsOptions(flags({ natsUrl: tlsUrl(mtlsServer), natsTlsCa: pki.caFile, natsTlsCert: pki.strangerCertFile, natsTlsKey: pki.strangerKeyFile }), WHO)),
      /TLS handshake failed.*certificate/i,
    );
    await connectsAndRoundTrips(natsOptions(flags({ natsUrl: tlsUrl(mtlsServer), natsTlsCa: pki.caFile, natsTlsCert: pki.clientCertFile, natsTlsKey: pki.clientKeyFile }), WHO));
  });

  test('nats-auth - a server certificate for another address is refused', BOUNDED, async () => {
    // the certificate names IP 127.0.0.1 only; "localhost" reaches the same server by another name
    await assert.rejects(open(natsOptions(flags({ natsUrl: `tls://localhost:${tlsServer.port}`, natsTlsCa: pki.caFile }), WHO)), /certificate/i);
  });
});

describe('nats-auth - nkeys', () => {
  let server: NatsServer;
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  before(async () => {
    server = await startNatsServer(scope, { jetstream: false, extraConfig: `authorization {\n  users: [ { nkey: "${user.getPublicKey()}" } ]\n}\n` });
  });

  test('nats-auth - nkeys: the seed file (--nats-nkey-seed-file) connects and a request round-trips', BOUNDED, async () => {
    const file = await tempFile('user.nk', `${seed}\n`);
    await connectsAndRoundTrips(natsOptions(flags({ natsUrl: server.url, natsNkeySeedFile: file }), WHO));
  });

  test("nats-auth - nkeys: another user's seed, and no credentials, are refused at once", BOUNDED, async () => {
    const other = await tempFile('other.nk', new TextDecoder().decode(nkeys.createUser().getSeed()));
    await assert.rejects(open(natsOptions(flags({ natsUrl: server.url, natsNkeySeedFile: other }), WHO)), /refused the credentials.*Authorization Violation/i);
    await assert.rejects(open(natsOptions(flags({ natsUrl: server.url }), WHO)), /Authorization Violation/i);
  });
});

describe('nats-auth - .creds in operator mode', () => {
  let server: NatsServer;
  let goodCreds: string;
  let forgedCreds: string;
  let strangerCreds: string;
  let stolenJwtCreds: string;
  let userJwt: string;
  before(async () => {
    const operator = createOperator();
    const account = createAccount();
    const otherAccount = createAccount();
    const operatorJwt = await encodeOperator('llmr-test-operator', operator);
    // an account JWT without limits allows no connection at all
    const unlimited = { conn: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1, leaf: -1, wildcards: true };
    const accountJwt = await encodeAccount('ROUTER', account, { limits: unlimited }, { signer: operator });
    const user = createUser();
    userJwt = await encodeUser('scheduler', user, account);
    goodCreds = await tempFile('scheduler.creds', fmtCreds(userJwt, user));
    // claims the router account but is signed by another account's key
    const mallory = createUser();
    forgedCreds = await tempFile('forged.creds', fmtCreds(await encodeUser('mallory', mallory, account, {}, { signer: otherAccount }), mallory));
    // signed by an account the operator never issued
    const stranger = createUser();
    strangerCreds = await tempFile('stranger.creds', fmtCreds(await encodeUser('stranger', stranger, otherAccount), stranger));
    // the real user's JWT without its seed: whoever copied the JWT only
    stolenJwtCreds = await tempFile('stolen.creds', fmtCreds(userJwt, createUser()));
    server = await startNatsServer(scope, { jetstream: false, extraConfig: `operator: "${operatorJwt}"\nresolver: MEMORY\nresolver_preload: {\n  ${account.getPublicKey()}: "${accountJwt}"\n}\n` });
  });

  test("nats-auth - creds: a user of the operator's account (--nats-creds) connects and a request round-trips", BOUNDED, async () => {
    await connectsAndRoundTrips(natsOptions(flags({ natsUrl: server.url, natsCreds: goodCreds }), WHO));
  });

  test("nats-auth - creds: a user JWT signed by another account, a foreign account's user and a JWT without its seed are refused", BOUNDED, async () => {
    for (const file of [forgedCreds, strangerCreds, stolenJwtCreds]) {
      await assert.rejects(open(natsOptions(flags({ natsUrl: server.url, natsCreds: file }), WHO)), /refused the credentials.*Authorization Violation/i, file);
    }
  });

  test('nats-auth - creds: a process started with --nats-creds connects, and neither the JWT nor the seed shows in its arguments or logs', BOUNDED, async (t) => {
    const agent = spawnRouter(t, ['agent', '--worker', 'http://127.0.0.1:9', '--nats-url', server.url, '--nats-creds', goodCreds], { LOG_LEVEL: 'debug' });
    await waitForOutput(agent, /connected to NATS/, 30_000);
    const seed = /SU[A-Z2-7]{50,}/.exec(readFileSync(goodCreds, 'utf8'))![0];
    assertHidden(agent, [seed, userJwt]);
  });
});

function cmdline(p: RouterProcess): string {
  return readFileSync(`/proc/${p.proc.pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
}

function assertHidden(p: RouterProcess, secrets: string[]): void {
  const args = cmdline(p);
  for (const s of secrets) {
    assert.ok(!args.includes(s), 'a secret is in the process arguments');
    assert.ok(!p.output().includes(s), 'a secret is in the logs');
  }
}

describe('nats-auth - passwords from a file or the environment', () => {
  let server: NatsServer;
  const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
  before(async () => {
    server = await startNatsServer(scope, { jetstream: false, extraConfig: `authorization {\n  users: [ { user: "agent", password: "${password}" } ]\n}\n` });
  });

  test("nats-auth - --nats-password-file connects, trims the file's newline, and the password shows in neither arguments nor logs", BOUNDED, async (t) => {
    const file = await tempFile('nats-password', `${password}\n`);
    const agent = spawnRouter(t, ['agent', '--worker', 'http://127.0.0.1:9', '--nats-url', server.url, '--nats-user', 'agent', '--nats-password-file', file], { LOG_LEVEL: 'debug' });
    await waitForOutput(agent, /connected to NATS/, 30_000);
    assertHidden(agent, [password]);
  });

  test('nats-auth - NATS_PASSWORD_FILE and NATS_PASSWORD connect without the password in the arguments', BOUNDED, async (t) => {
    const file = await tempFile('nats-password', password);
    const viaFile = spawnRouter(t, ['agent', '--worker', 'http://127.0.0.1:9'], { NATS_URL: server.url, NATS_USER: 'agent', NATS_PASSWORD_FILE: file, LOG_LEVEL: 'debug' });
    const viaEnv = spawnRouter(t, ['agent', '--worker', 'http://127.0.0.1:9'], { NATS_URL: server.url, NATS_USER: 'agent', NATS_PASSWORD: password, LOG_LEVEL: 'debug' });
    for (const p of [viaFile, viaEnv]) {
      await waitForOutput(p, /connected to NATS/, 30_000);
      assertHidden(p, [password]);
    }
  });

  test('nats-auth - a wrong password file is refused with the reason, not retried forever', BOUNDED, async () => {
    const file = await tempFile('nats-password', 'guess');
    await assert.rejects(open(natsOptions(flags({ natsUrl: server.url, natsUser: 'agent', natsPasswordFile: file }), WHO)), /refused the credentials \(Authorization Violation\)/);
  });
});

describe('nats-auth - the CLI checks the bus flags before it touches NATS', () => {
  // A TCP listener standing in for NATS: any connection to it would be I/O the checks must prevent.
  let bus: Server;
  let busUrl: string;
  let connections = 0;
  let seedFile: string;
  before(async () => {
    bus = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => bus.listen(0, '127.0.0.1', r));
    busUrl = `nats://127.0.0.1:${(bus.address() as { port: number }).port}`;
    seedFile = await tempFile('user.nk', new TextDecoder().decode(nkeys.createUser().getSeed()));
  });
  after(() => new Promise<void>((r) => bus.close(() => r())));

  async function failsNaming(t: Pick<TestContext, 'after'>, args: string[], env: Record<string, string>, ...named: RegExp[]): Promise<string> {
    const p = spawnRouter(t, args, { NATS_URL: busUrl, ...env });
    const code = await p.exited;
    assert.notEqual(code, 0, `exited ${String(code)}:\n${p.output()}`);
    assert.doesNotMatch(p.output(), /unknown option/);
    for (const re of named) assert.match(p.output(), re);
    return p.output();
  }

  test('nats-auth - CLI: a missing --nats-creds file stops the scheduler with the option and the file named', BOUNDED, async (t) => {
    await failsNaming(t, ['scheduler', '--metrics-port', '0', '--nats-creds', '/nonexistent/scheduler.creds'], {}, /--nats-creds.*\/nonexistent\/scheduler\.creds.*ENOENT/);
    await failsNaming(t, ['agent', '--worker', 'http://127.0.0.1:9'], { NATS_CREDS: '/nonexistent/agent.creds' }, /NATS_CREDS.*\/nonexistent\/agent\.creds/);
    assert.equal(connections, 0);
  });

  test('nats-auth - CLI: two ways of authenticating stop the process with both named', BOUNDED, async (t) => {
    await failsNaming(t, ['scheduler', '--metrics-port', '0', '--nats-user', 'scheduler', '--nats-creds', '/x.creds'], {}, /--nats-user.*--nats-creds/, /one way of authenticating/);
    await failsNaming(t, ['agent', '--worker', 'http://127.0.0.1:9', '--nats-nkey-seed-file', seedFile], { NATS_CREDS: '/x.creds' }, /--nats-creds.*--nats-nkey-seed-file/);
    await failsNaming(t, ['agent', '--worker', 'http://127.0.0.1:9', '--nats-nkey-seed-file', seedFile], { NATS_PASSWORD: 'p', NATS_USER: 'agent' }, /--nats-user.*--nats-nkey-seed-file/);
    await failsNaming(t, ['scheduler', '--metrics-port', '0'], { NATS_PASSWORD_FILE: '/x' }, /--nats-password-file.*needs --nats-user/);
    assert.equal(connections, 0);
  });

  test('nats-auth - CLI: missing or mismatched TLS files stop the process with the option named', BOUNDED, async (t) => {
    const pki = await makeTestPki(t);
    await failsNaming(t, ['scheduler', '--metrics-port', '0', '--nats-tls-ca', '/nonexistent/ca.pem'], {}, /--nats-tls-ca.*\/nonexistent\/ca\.pem/);
    await failsNaming(t, ['agent', '--worker', 'http://127.0.0.1:9', '--nats-tls-cert', pki.clientCertFile], {}, /--nats-tls-cert.*--nats-tls-key/);
    await failsNaming(t, ['agent', '--worker', 'http://127.0.0.1:9'], { NATS_TLS_CERT: pki.clientCertFile, NATS_TLS_KEY: pki.strangerKeyFile }, /--nats-tls-key.*is not the key of/);
    await failsNaming(t, ['scheduler', '--metrics-port', '0', '--nats-tls-ca', pki.serverKeyFile], {}, /--nats-tls-ca.*not a PEM certificate/);
    await failsNaming(t, ['ingress', '--port', '0', '--nats-nkey-seed-file', pki.caFile], {}, /--nats-nkey-seed-file.*seed/);
    assert.equal(connections, 0);
  });
});
