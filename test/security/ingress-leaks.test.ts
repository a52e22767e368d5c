// What a client can learn or break through the ingress: `x-router-worker` names workers without
// showing their addresses (opaque by default, or the id, or nothing); /metrics is not on the
// public port but on its own; a CR, LF or other control character in a session or user (body
// fields or headers) is hashed into the routing key instead of breaking the NATS header (a 500).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test, afterEach } from 'node:test';
import { INGRESS_DEFAULTS } from '../../ingress/options.ts';
import type { Ingress } from '../../ingress/server.ts';
import { rawRequest } from '../helpers/raw-http.ts';
import { SIM_MODEL, eventually } from '../helpers/sim.ts';
import { find, postJson, readSse } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

const KEY = 'a-worker-header-key-for-tests';
const hmac12 = (key: string, id: string) => createHmac('sha256', key).update(id).digest('hex').slice(0, 12);

async function workerHeaders(ingress: Ingress, n: number, stream = false): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  for (let i = 0; i < n; i++) {
    const r = await postJson(`${ingress.url}/v1/completions`, { model: SIM_MODEL, prompt: `which worker ${i}`, max_tokens: 2, stream });
    assert.equal(r.status, 200);
    if (stream) await readSse(r);
    else await r.arrayBuffer();
    out.push(r.headers.get('x-router-worker'));
  }
  return out;
}

describe('ingress leaks - worker names and metrics', () => {
  let stack: Stack;
  let ids: string[];
  let ports: string[];
  const scope = cleanupScope();
  before(async () => {
    // On the shipped nats.conf: two ingress users, so each test removes the ingresses it added.
    stack = await startStack(scope, { workers: 2, ingresses: 0, policy: 'round_robin' });
    ids = stack.schedulers[0]!.registry.all().map((w) => w.id);
    ports = stack.workers.map((w) => new URL(w.url).port);
  });
  after(() => scope.run());
  afterEach(async () => {
    for (const i of [...stack.ingresses]) await stack.removeIngress(i);
  });

  test('ingress leaks - by default x-router-worker is an opaque name per worker, with no host or port in it', async () => {
    const ingress = await stack.addIngress({ workerHeader: INGRESS_DEFAULTS.workerHeader });
    const seen = [...(await workerHeaders(ingress, 4)), ...(await workerHeaders(ingress, 2, true))];
    for (const v of seen) {
      assert.match(v ?? '', /^[0-9a-f]{12}$/);
      assert.ok(!ids.includes(v!), 'the worker id itself');
      for (const p of ports) assert.ok(!v!.includes(p), `port ${p} in ${v}`);
    }
    assert.equal(new Set(seen).size, 2, 'stable: one name per worker');
  });

  test('ingress leaks - with a key, the opaque name is HMAC-SHA256(key, worker id) cut to 12 hex; another ingress without it names them otherwise', async () => {
    const keyed = await stack.addIngress({ workerHeader: 'opaque', workerHeaderKey: KEY });
    assert.deepEqual(new Set(await workerHeaders(keyed, 4)), new Set(ids.map((id) => hmac12(KEY, id))));
    const random = await stack.addIngress({ workerHeader: 'opaque' });
    const other = new Set(await workerHeaders(random, 4));
    assert.equal(other.size, 2);
    for (const v of other) assert.ok(!ids.map((id) => hmac12(KEY, id)).includes(v!), 'a per-process random key');
  });

  test('ingress leaks - id gives the worker id; none gives no header, JSON or streamed', async () => {
    const byId = await stack.addIngress({ workerHeader: 'id' });
    assert.deepEqual(new Set(await workerHeaders(byId, 4)), new Set(ids));
    const none = await stack.addIngress({ workerHeader: 'none' });
    assert.deepEqual([...(await workerHeaders(none, 2)), ...(await workerHeaders(none, 2, true))], [null, null, null, null]);
  });

  test('ingress leaks - /metrics is not on the public port; it is on the metrics endpoint (127.0.0.1)', async () => {
    const ingress = await stack.addIngress();
    const pub = await fetch(`${ingress.url}/metrics`);
    assert.equal(pub.status, 404);
    assert.equal(((await pub.json()) as { error: { code: string } }).error.code, 'LLMR_ERR_ROUTE_NOT_FOUND');
    for (const target of ['/metrics', '/%6detrics', 'http://x/metrics', '/metrics/', '/metrics?x']) {
      const r = await rawRequest(ingress.url, { target });
      assert.notEqual(r.status, 200, target);
      assert.doesNotMatch(r.body, /llm_router_/, target);
    }
    assert.match(ingress.metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    assert.notEqual(new URL(ingress.metricsUrl).port, new URL(ingress.url).port);
    await workerHeaders(ingress, 1);
    const text = await (await fetch(ingress.metricsUrl)).text();
    assert.ok(find(text, 'llm_router_http_requests_total', { route: '/v1/completions', status: '200' }).length > 0);
  });
});

describe('ingress leaks - control characters in sessions and users', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 2, policy: 'consistent_hash' });
  });
  after(() => scope.run());

  const errorsOf = async (code: string) => find(await (await fetch(stack.ingresses[0]!.metricsUrl)).text(), 'llm_router_errors_total', { code }).reduce((n, s) => n + s.value, 0);

  const VALUES = ['a\r\nb', 'line\nfeed', 'carriage\rreturn', 'nul\u0000', 'esc\u001b[2J', 'nel\u0085'];

  test('ingress leaks - CR, LF and other control characters in body session_id and user get 200, not 500, JSON and streamed', async () => {
    for (const v of VALUES) {
      for (const field of ['session_id', 'user'] as const) {
        for (const stream of [false, true]) {
          const r = await postJson(`${stack.url()}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, stream, [field]: v });
          assert.equal(r.status, 200, `${field}=${JSON.stringify(v)} stream=${stream}: ${r.status}`);
          if (stream) assert.ok((await readSse(r)).done);
          else await r.arrayBuffer();
        }
      }
    }
    assert.equal(await errorsOf('LLMR_ERR_INTERNAL'), 0);
  });

  test('ingress leaks - a hashed session still sticks to one worker', async () => {
    const workers = new Set<string | null>();
    for (let i = 0; i < 6; i++) {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: `turn ${i}`, max_tokens: 2, session_id: 'sticky\r\nsession' });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      workers.add(r.headers.get('x-router-worker'));
    }
    assert.equal(workers.size, 1);
  });

  test('ingress leaks - control characters that HTTP lets through in x-session-id and x-user-id headers get 200', async () => {
    const body = JSON.stringify({ model: SIM_MODEL, prompt: 'headers', max_tokens: 2 });
    for (const name of ['x-session-id', 'x-user-id']) {
      for (const v of ['tab\there', 'latin1 \u00e9\u00ff', '\u0085nel']) {
        const r = await rawRequest(stack.url(), { method: 'POST', target: '/v1/completions', headers: { 'content-type': 'application/json', [name]: v }, body });
        assert.equal(r.status, 200, `${name}=${JSON.stringify(v)}: ${r.raw.slice(0, 200)}`);
      }
    }
    // HTTP itself refuses CR and LF inside a header value; whatever the ingress answers, it is not a 500.
    const r = await rawRequest(stack.url(), { method: 'POST', target: '/v1/completions', headers: { 'content-type': 'application/json', 'x-session-id': 'a\rb' }, body });
    assert.notEqual(r.status, 500);
    assert.notEqual(r.status, null);
  });
});

describe('ingress leaks - a prefill,decode pair', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 0, ingresses: 0 });
    await stack.addWorker({ role: 'prefill' });
    await stack.addWorker({ role: 'decode' });
    await eventually(
      () => stack.schedulers.every((s) => s.registry.candidates(SIM_MODEL, 'prefill').length === 1 && s.registry.candidates(SIM_MODEL, 'decode').length === 1),
      'the scheduler sees the prefill and the decode worker',
    );
  });
  after(() => scope.run());

  test('ingress leaks - an opaque P/D answer names two workers, each hashed on its own', async () => {
    const ingress = await stack.addIngress({ workerHeader: 'opaque', workerHeaderKey: KEY });
    const r = await postJson(`${ingress.url}/v1/completions`, { model: SIM_MODEL, prompt: 'a long prompt for a disaggregated answer '.repeat(100), max_tokens: 2 });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    const byRole = (role: string) => stack.schedulers[0]!.registry.all().find((w) => w.role === role)!.id;
    assert.equal(r.headers.get('x-router-worker'), `${hmac12(KEY, byRole('prefill'))},${hmac12(KEY, byRole('decode'))}`);
  });
});
