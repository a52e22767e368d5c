// HTTPS on the ingress (--tls-cert, --tls-key): with a CA and a server certificate made in the
// test, the official openai client (trusting that CA) talks HTTPS; plain HTTP on the same port
// gets no HTTP answer; a client that does not trust the CA is refused; bad files stop the start.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { Agent, fetch as undiciFetch } from 'undici';
import { INGRESS_DEFAULTS, validateIngressOptions } from '../../ingress/options.ts';
import { startIngress, type Ingress } from '../../ingress/server.ts';
import { rawRequest } from '../helpers/raw-http.ts';
import { SIM_MODEL } from '../helpers/sim.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';
import { makeTestPki, type TestPki } from '../helpers/certs.ts';

describe('ingress tls - HTTPS only on the public port', () => {
  let stack: Stack;
  let ca: TestPki;
  let ingress: Ingress;
  let trusting: Agent;
  const scope = cleanupScope();
  before(async () => {
    ca = await makeTestPki(scope);
    stack = await startStack(scope, { workers: 1, ingresses: 0 });
    ingress = await stack.addIngress({ tlsCertFile: ca.serverCertFile, tlsKeyFile: ca.serverKeyFile });
    trusting = new Agent({ connect: { ca: readFileSync(ca.caFile, 'utf8') } });
    scope.after(() => trusting.close());
  });
  after(() => scope.run());

  const client = () =>
    new OpenAI({
      baseURL: `${ingress.url}/v1`,
      apiKey: 'unused',
      maxRetries: 0,
      fetch: ((url: string, init?: Record<string, unknown>) => undiciFetch(url, { ...init, dispatcher: trusting })) as unknown as typeof fetch,
    });

  test('ingress tls - the ingress says https, and the openai client trusting the CA gets answers, JSON and streamed', async () => {
    assert.match(ingress.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const c = client();
    const r = await c.chat.completions.create({ model: SIM_MODEL, messages: [{ role: 'user', content: 'over tls' }], max_tokens: 3 });
    assert.equal(r.usage!.completion_tokens, 3);
    const s = await c.completions.create({ model: SIM_MODEL, prompt: 'stream over tls', max_tokens: 4, stream: true });
    let chunks = 0;
    for await (const _ of s) chunks++;
    assert.ok(chunks >= 1);
    const models = await c.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      [SIM_MODEL],
    );
  });

  test('ingress tls - plain HTTP on the TLS port gets no HTTP answer', async () => {
    const port = new URL(ingress.url).port;
    const r = await rawRequest(`http://127.0.0.1:${port}`, { target: '/v1/models', timeoutMs: 10_000 });
    assert.equal(r.status, null, `answered over plain HTTP: ${r.raw.slice(0, 80)}`);
    assert.doesNotMatch(r.raw, /sim-model|HTTP\/1/);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/health`));
  });

  test('ingress tls - a client that does not trust the CA is refused', async () => {
    const untrusting = new Agent();
    try {
      await assert.rejects(undiciFetch(`${ingress.url}/health`, { dispatcher: untrusting }), (e: Error & { cause?: { code?: string } }) =>
        /UNABLE_TO_VERIFY|CERT|SELF_SIGNED|UNABLE_TO_GET_ISSUER/.test(String(e.cause?.code)),
      );
    } finally {
      await untrusting.close();
    }
  });

  test('ingress tls - bad TLS options stop the start with a message naming them', async () => {
    const base = { ...INGRESS_DEFAULTS, id: 'tls-bad', port: 0, bodyLimit: null, region: 'test' };
    assert.throws(() => validateIngressOptions({ ...base, tlsCertFile: ca.serverCertFile }), /give both the certificate and its key/);
    const nc = await stack.connect('ingress', 'tls-bad');
    const notPem = join(ca.dir, 'not-a-key.pem');
    await writeFile(notPem, 'not a key\n');

    for (const [cert, key, re] of [
      [join(ca.dir, 'missing.crt'), ca.serverKeyFile, /cannot read --tls-cert .*missing\.crt/],
      [ca.serverCertFile, join(ca.dir, 'missing.key'), /cannot read --tls-key .*missing\.key/],
      [ca.serverCertFile, notPem, /not a PEM certificate and its private key/],
      [ca.serverCertFile, ca.clientKeyFile, /not a PEM certificate and its private key/],
    ] as const) {
      await assert.rejects(startIngress(nc, validateIngressOptions({ ...base, tlsCertFile: cert, tlsKeyFile: key }), stack.log), re);
    }
  });
});
