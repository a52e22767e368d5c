// The fleet API's trust boundary: its routes are guarded by their own hook, so that no spelling
// of a URL that reaches them (percent-encoded letters, `//`, `.` and `..` segments, case, a
// trailing slash, absolute-form targets) gets an answer or drains a worker without the admin
// token — also when no token is configured at all. Requests are written by hand on TCP sockets:
// fetch would normalise most of these targets before sending them.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { INGRESS_DEFAULTS, validateIngressOptions } from '../../ingress/options.ts';
import { startIngress, type Ingress } from '../../ingress/server.ts';
import { spawnRouter, waitForOutput } from '../helpers/processes.ts';
import { rawRequest } from '../helpers/raw-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

const TOKEN = 'the-admin-token-0123456789';

/** Ways to write a request target that a router might map onto `p` (an /admin/… path). */
const SPELLINGS: readonly [string, (p: string) => string][] = [
  ['canonical', (p) => p],
  ['percent-encoded letter', (p) => p.replace('/admin/', '/%61dmin/')],
  ['percent-encoded letters everywhere', (p) => p.replace('/admin/v1/', '/%61%64%6d%69%6e/%76%31/')],
  ['double-encoded letter', (p) => p.replace('/admin/', '/%2561dmin/')],
  ['encoded slash', (p) => p.replace('/admin/v1', '/admin%2fv1')],
  ['double slash', (p) => `/${p}`],
  ['dot segment', (p) => `/.${p}`],
  ['dot-dot segment', (p) => `/x/..${p}`],
  ['encoded dot-dot segment', (p) => `/x/%2e%2e${p}`],
  ['upper case', (p) => p.replace('/admin/', '/ADMIN/')],
  ['trailing slash', (p) => `${p}/`],
  ['query string', (p) => `${p}?token=${TOKEN}`],
  ['absolute-form', (p) => `http://x${p}`],
  ['absolute-form, encoded letter', (p) => `http://x${p.replace('/admin/', '/%61dmin/')}`],
  ['absolute-form, double slash', (p) => `http://x/${p}`],
  ['absolute-form, userinfo and port', (p) => `http://admin:${TOKEN}@127.0.0.1:1${p}`],
];

/** Authorization headers that are not the admin token (none, wrong, near misses). */
const NOT_THE_TOKEN: readonly (Record<string, string> | undefined)[] = [
  undefined,
  { authorization: 'Bearer wrong' },
  { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
  { authorization: `Bearer ${TOKEN}x` },
  { authorization: TOKEN },
  { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
  { authorization: 'Bearer ' },
];

/** Every admin path, drains included, for the stack's workers. */
function adminPaths(stack: Stack): { method: string; path: string }[] {
  const ids = stack.schedulers[0]!.registry.all().map((w) => w.id);
  assert.ok(ids.length > 0);
  return [
    { method: 'GET', path: '/admin/v1/workers' },
    { method: 'HEAD', path: '/admin/v1/workers' },
    { method: 'GET', path: '/admin/v1/schedulers' },
    ...ids.map((id) => ({ method: 'POST', path: `/admin/v1/workers/${id}/drain` })),
  ];
}

function assertNothingDrained(stack: Stack): void {
  for (const s of stack.schedulers) for (const w of s.registry.all()) assert.equal(s.registry.isAdminDrained(w.id), false, `${s.options.id} sees ${w.id} drained`);
}

/** Tries every spelling × path × header on `base`; returns the answers that were not refused. */
async function tryAll(stack: Stack, base: string, headerSets: readonly (Record<string, string> | undefined)[]): Promise<string[]> {
  const leaks: string[] = [];
  for (const { method, path } of adminPaths(stack)) {
    for (const [name, spell] of SPELLINGS) {
      for (const headers of headerSets) {
        const target = spell(path);
        const r = await rawRequest(base, { method, target, ...(headers ? { headers } : {}) });
        assert.notEqual(r.status, null, `${method} ${target}: no answer`);
        assert.ok(r.status! < 500, `${method} ${target} (${name}): ${r.status}`);
        if (r.status! < 400 || /127\.0\.0\.1:\d+/.test(r.body)) leaks.push(`${method} ${target} (${name}, ${JSON.stringify(headers ?? {})}) → ${r.status} ${r.body.slice(0, 120)}`);
      }
    }
  }
  return leaks;
}

describe('ingress admin - the fleet API guards its own routes', () => {
  let stack: Stack;
  let noToken: Ingress;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 2, schedulers: 2, ingress: { adminToken: TOKEN } });
    noToken = await stack.addIngress({ adminToken: null });
  });
  after(() => scope.run());

  test('ingress admin - no spelling of an admin URL answers or drains without the token', async () => {
    const leaks = await tryAll(stack, stack.url(), NOT_THE_TOKEN);
    assert.deepEqual(leaks, []);
    assertNothingDrained(stack);
  });

  test('ingress admin - with no --admin-token configured, no spelling answers or drains, whatever the token', async () => {
    const leaks = await tryAll(stack, noToken.url, [...NOT_THE_TOKEN, { authorization: `Bearer ${TOKEN}` }, { authorization: 'Bearer null' }, { authorization: 'Bearer undefined' }]);
    assert.deepEqual(leaks, []);
    assertNothingDrained(stack);
  });

  test('ingress admin - refusals are OpenAI-shaped 401s on every route that reaches the fleet API', async () => {
    for (const target of ['/admin/v1/workers', '/%61dmin/v1/workers', 'http://x/admin/v1/workers']) {
      const r = await rawRequest(stack.url(), { target });
      assert.equal(r.status, 401, target);
      assert.equal((JSON.parse(r.body) as { error: { code: string; type: string } }).error.code, 'LLMR_ERR_UNAUTHORIZED');
    }
  });

  test('ingress admin - the right token still works, listing and draining', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const list = await rawRequest(stack.url(), { target: '/admin/v1/workers', headers: auth });
    assert.equal(list.status, 200);
    const id = stack.schedulers[0]!.registry.all()[0]!.id;
    const d = await rawRequest(stack.url(), { method: 'POST', target: `/admin/v1/workers/${id}/drain`, headers: auth });
    assert.equal(d.status, 202);
    for (const s of stack.schedulers) assert.equal(s.registry.isAdminDrained(id), true);
    const u = await rawRequest(stack.url(), { method: 'POST', target: `/admin/v1/workers/${id}/undrain`, headers: auth });
    assert.equal(u.status, 202);
    assertNothingDrained(stack);
  });
});

describe('ingress admin - the fleet API speaks over its own NATS connection', () => {
  // The shipped nats.conf: the ingress users may not touch llm.v1.admin.>, only `admin` may.
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 1, ingresses: 0 });
  });
  after(() => scope.run());

  const start = async (id: 'ingress-1' | 'ingress-2', withAdminConnection: boolean): Promise<Ingress> => {
    const nc = await stack.connect(id, id);
    const adminNc = withAdminConnection ? await stack.connect('admin', `admin-${id}`) : undefined;
    const options = validateIngressOptions({ ...INGRESS_DEFAULTS, bodyLimit: null, id, port: 0, region: 'test', adminToken: TOKEN });
    const ingress = await startIngress(nc, options, stack.log, adminNc ? { adminNc } : {});
    scope.after(() => ingress.stop(0));
    return ingress;
  };

  test('ingress admin - with an admin connection, the fleet API works although the ingress user may not publish on llm.v1.admin.>', async () => {
    const ingress = await start('ingress-1', true);
    const r = await rawRequest(ingress.url, { target: '/admin/v1/workers', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as { data: unknown[] }).data.length, 1);
    // The data plane still goes over the ingress's own connection.
    const client = new OpenAI({ baseURL: `${ingress.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const c = await client.completions.create({ model: 'sim-model', prompt: 'hi', max_tokens: 2 });
    assert.equal(c.usage!.completion_tokens, 2);
  });

  test('ingress admin - without one, the ingress user cannot reach the schedulers (the bus really denies it)', async () => {
    const ingress = await start('ingress-2', false);
    const r = await rawRequest(ingress.url, { target: '/admin/v1/workers', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 503);
  });

  test('ingress admin - the ingress command opens the admin connection from --admin-nats-user and a password file or the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'llmr-admin-'));
    scope.after(() => rm(dir, { recursive: true, force: true }));
    const pwFile = join(dir, 'admin-password');
    await writeFile(pwFile, 'admin-dev\n');
    const common = ['ingress', '--nats-url', stack.nats.url, '--nats-user', 'ingress-2', '--port', '0', '--metrics-port', '0', '--admin-nats-user', 'admin'];
    for (const [args, env] of [
      [['--admin-nats-password-file', pwFile], { LLMR_ADMIN_TOKEN: TOKEN, NATS_PASSWORD: 'ingress-2-dev' }],
      [[], { LLMR_ADMIN_TOKEN: TOKEN, NATS_PASSWORD: 'ingress-2-dev', LLMR_ADMIN_NATS_PASSWORD: 'admin-dev' }],
    ] as const) {
      const p = spawnRouter(scope, [...common, ...args], env);
      await waitForOutput(p, /ingress listening/, 30_000);
      const url = (
        JSON.parse(
          p
            .output()
            .split('\n')
            .find((l) => l.includes('ingress listening'))!,
        ) as { address: string }
      ).address;
      const r = await rawRequest(url, { target: '/admin/v1/workers', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(r.status, 200, r.body);
      assert.doesNotMatch(p.output(), /admin-pw/);
      p.kill('SIGKILL');
      await p.exited;
    }
  });
});
