// A certificate authority made for one test with /usr/bin/openssl: a self-signed CA and a server
// certificate it signed for 127.0.0.1 (subjectAltName IP:127.0.0.1), in a temporary directory
// removed when the test ends. EC P-256 keys: quick to make.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export interface TestCa {
  readonly dir: string;
  /** PEM of the CA certificate, for clients to trust. */
  readonly caPem: string;
  readonly certFile: string;
  readonly keyFile: string;
}

const OPENSSL = '/usr/bin/openssl';

export async function makeTestCa(t: Pick<TestContext, 'after'>, host = '127.0.0.1'): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'llmr-ca-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const f = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync(OPENSSL, args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=llm-router test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ssl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', `/CN=${host}`);
  await writeFile(f('server.ext'), `subjectAltName=IP:${host}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('server.ext'));
  return { dir, caPem: await readFile(f('ca.crt'), 'utf8'), certFile: f('server.crt'), keyFile: f('server.key') };
}
