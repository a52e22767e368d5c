import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { curveKeyPair } from 'zeromq';
import { DISCOVER_DEFAULTS, validateDiscoverOptions } from '../../adapters/discover-options.ts';
import { curveFromFlags, CURVE_SECRET_KEY_ENV } from '../../cli/discover-zmq.ts';
import { readSecret } from '../../cli/secrets.ts';

describe('discover-zmq options', () => {
  test('discover-zmq options - defaults, frozen', () => {
    const o = validateDiscoverOptions({ bind: DISCOVER_DEFAULTS.bind, ttlMs: 5000 });
    assert.equal(o.maxInstances, 1024);
    assert.equal(o.maxMessageBytes, 64 * 1024);
    assert.equal(o.allow, null);
    assert.equal(o.curve, null);
    assert.ok(Object.isFrozen(o));
    assert.equal(validateDiscoverOptions({ bind: 'tcp://[::]:30001', ttlMs: 5000, allow: [] }).allow, null, 'an empty list is no list');
  });

  test('discover-zmq options - bad values are refused, naming the option', () => {
    const base = { bind: 'tcp://0.0.0.0:30001', ttlMs: 5000 };
    assert.throws(() => validateDiscoverOptions({ ...base, bind: 'udp://x:1' }), /bind/);
    assert.throws(() => validateDiscoverOptions({ ...base, maxInstances: 0 }), /maxInstances/);
    assert.throws(() => validateDiscoverOptions({ ...base, maxMessageBytes: 1 << 30 }), /maxMessageBytes/);
    assert.throws(() => validateDiscoverOptions({ ...base, allow: ['10.0.0.0/8', 'nope'] }), /allow: "nope"/);
    const server = curveKeyPair();
    const client = { key: curveKeyPair().publicKey, name: 'relay' };
    assert.throws(() => validateDiscoverOptions({ ...base, curve: { secretKey: 'x', clients: [client] } }), /secret key/);
    assert.throws(() => validateDiscoverOptions({ ...base, curve: { secretKey: server.secretKey, clients: [] } }), /at least one/);
    assert.throws(() => validateDiscoverOptions({ ...base, curve: { secretKey: server.secretKey, publicKey: curveKeyPair().publicKey, clients: [client] } }), /does not belong/);
    const ok = validateDiscoverOptions({ ...base, curve: { secretKey: server.secretKey, publicKey: server.publicKey, clients: [client] } });
    assert.equal(ok.curve?.publicKey, server.publicKey);
    assert.equal(ok.curve?.clients.get(client.key), 'relay');
  });

  test('discover-zmq options - the CURVE secret comes from the environment or a file, never a flag', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmr-curve-'));
    const server = curveKeyPair();
    const client = curveKeyPair();
    await writeFile(join(dir, 'secret'), `${server.secretKey}\n`);
    await writeFile(join(dir, 'clients'), `${client.publicKey} relay\n`);
    const files = { curveSecretKeyFile: join(dir, 'secret'), curveClientsFile: join(dir, 'clients') };
    assert.equal(curveFromFlags(files, {})?.secretKey, server.secretKey, 'the file, without its newline');
    const other = curveKeyPair();
    assert.equal(curveFromFlags({ curveClientsFile: files.curveClientsFile }, { [CURVE_SECRET_KEY_ENV]: other.secretKey })?.secretKey, other.secretKey, 'the environment');
    assert.equal(curveFromFlags({}, {}), null, 'no secret: CURVE off');
    assert.throws(() => curveFromFlags({ curveClientsFile: files.curveClientsFile }, {}), /secret key/);
    assert.throws(() => curveFromFlags({ curveSecretKeyFile: files.curveSecretKeyFile }, {}), /--curve-clients-file/);
    assert.throws(() => curveFromFlags({ ...files, curveSecretKeyFile: join(dir, 'missing') }, {}), /--curve-secret-key-file.*ENOENT/);
    assert.deepEqual(curveFromFlags(files, {})?.clients, [{ key: client.publicKey, name: 'relay' }]);
  });

  test('secrets - value wins over file; one trailing newline is dropped; a missing file names the option', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmr-secret-'));
    await writeFile(join(dir, 's'), 'abc\n\n');
    assert.equal(readSecret({ value: 'v', file: join(dir, 's'), what: '--x' }), 'v');
    assert.equal(readSecret({ file: join(dir, 's'), what: '--x' }), 'abc\n');
    assert.equal(readSecret({ what: '--x' }), undefined);
    assert.throws(() => readSecret({ file: join(dir, 'none'), what: '--x-file' }), /--x-file/);
  });
});
