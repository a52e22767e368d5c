// Data-plane API keys (--api-keys-file): with a keys file, every /v1 route needs
// `Authorization: Bearer <key>` with a key from it; anything else is an OpenAI-shaped 401
// (LLMR_ERR_INVALID_API_KEY), counted. The key's name, never the key, is on the request's log
// lines and in the metrics. /health and /readiness stay open. The file is read at start (a bad
// one stops the ingress) and again only when asked (SIGHUP): editing it changes nothing by itself.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import pino from 'pino';
import { INGRESS_DEFAULTS, validateIngressOptions } from '../../ingress/options.ts';
import { startIngress, type Ingress } from '../../ingress/server.ts';
import { spawnRouter, waitForOutput } from '../helpers/processes.ts';
import { rawRequest } from '../helpers/raw-http.ts';
import { SIM_MODEL, eventually } from '../helpers/sim.ts';
import { find, postJson, readSse } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

const ALICE = 'sk-alice-4f7d2c9e8b1a6053';
const BARE = 'sk-bare-0c5e7a9d1f3b2468';
const BOB = 'sk-bob-9a8b7c6d5e4f3210ab';
const CAROL = 'sk-carol-13579bdf2468ace0';
const FILE = `# API keys of the test fleet\n\nalice:${ALICE}\n${BARE}\nbob: ${BOB}\n`;
const ALL_KEYS = [ALICE, BARE, BOB, CAROL];

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

describe('ingress api keys - /v1 behind bearer keys', () => {
  let stack: Stack;
  let dir: string;
  let keysFile: string;
  let ingress: Ingress;
  const lines: string[] = [];
  const scope = cleanupScope();
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llmr-keys-'));
    scope.after(() => rm(dir, { recursive: true, force: true }));
    keysFile = join(dir, 'keys');
    await writeFile(keysFile, FILE);
    stack = await startStack(scope, { workers: 1, ingresses: 0 });
    // An ingress of our own, with its log lines captured.
    const log = pino(
      { level: 'debug' },
      new Writable({
        write: (c: Buffer, _e, cb) => {
          lines.push(c.toString());
          cb();
        },
      }),
    );
    const nc = await stack.connect('ingress-1', 'ingress-keys');
    ingress = await startIngress(nc, validateIngressOptions({ ...INGRESS_DEFAULTS, id: 'ingress-1', port: 0, bodyLimit: null, region: 'test', apiKeysFile: keysFile }), log);
    scope.after(() => ingress.stop(0));
  });
  after(() => scope.run());

  const client = (apiKey: string) => new OpenAI({ baseURL: `${ingress.url}/v1`, apiKey, maxRetries: 0 });
  const metrics = async () => (await fetch(ingress.metricsUrl)).text();
  const invalidKeyErrors = async () => find(await metrics(), 'llm_router_errors_total', { code: 'LLMR_ERR_INVALID_API_KEY' }).reduce((n, s) => n + s.value, 0);
  const chatBody = { model: SIM_MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };

  const assert401 = async (r: Response | { status: number | null; body: string }, what: string) => {
    assert.equal(r.status, 401, what);
    const b = (r instanceof Response ? await r.json() : JSON.parse(r.body)) as ErrorBody;
    assert.equal(b.error.code, 'LLMR_ERR_INVALID_API_KEY', what);
    assert.equal(b.error.type, 'authentication_error', what);
    assert.match(b.error.message, /^Incorrect API key provided/, what);
  };

  // First in the suite: the refusals counted are all its own.
  test('ingress api keys - no key: 401 on every /v1 route, unknown ones and wrong methods included', async () => {
    await assert401(await postJson(`${ingress.url}/v1/chat/completions`, chatBody), 'chat');
    await assert401(await postJson(`${ingress.url}/v1/completions`, { model: SIM_MODEL, prompt: 'x' }), 'completions');
    await assert401(await fetch(`${ingress.url}/v1/models`), 'models');
    await assert401(await fetch(`${ingress.url}/v1/no-such-route`), 'unknown route');
    await assert401(await fetch(`${ingress.url}/v1/chat/completions`), 'wrong method');
    let refused = 5;
    for (const target of ['/%761/models', 'http://x/v1/models', '/v1//models', '/x/../v1/models']) {
      const r = await rawRequest(ingress.url, { target });
      assert.ok(r.status === 401 || r.status === 404, `${target}: ${r.status}`);
      assert.doesNotMatch(r.body, new RegExp(SIM_MODEL), target);
      if (r.status === 401) refused++;
    }
    assert.equal(await invalidKeyErrors(), refused, 'each refusal counted');
  });

  test('ingress api keys - wrong keys, keys of other lengths and keys sent the wrong way are refused', async () => {
    const wrong: Record<string, string>[] = [
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${ALICE.slice(0, -1)}` },
      { authorization: `Bearer ${ALICE}0` },
      { authorization: `Bearer ${ALICE.slice(0, -1)}X` },
      { authorization: `Bearer ${ALICE.toUpperCase()}` },
      { authorization: `Bearer ${'x'.repeat(4096)}` },
      { authorization: `Bearer alice:${ALICE}` },
      { authorization: `Bearer alice` },
      { authorization: ALICE },
      { authorization: `Basic ${Buffer.from(`alice:${ALICE}`).toString('base64')}` },
      { 'x-api-key': ALICE },
      { 'api-key': ALICE },
    ];
    for (const h of wrong) await assert401(await postJson(`${ingress.url}/v1/chat/completions`, chatBody, h), JSON.stringify(h).slice(0, 60));
    await assert401(await fetch(`${ingress.url}/v1/models?api_key=${ALICE}`), 'key in the query');
    await assert.rejects(
      client('sk-not-a-key-of-this-router').chat.completions.create({ ...chatBody, messages: [{ role: 'user', content: 'hi' }] }),
      (e: unknown) => e instanceof OpenAI.AuthenticationError && e.status === 401 && (e.error as { code?: string }).code === 'LLMR_ERR_INVALID_API_KEY',
    );
  });

  test('ingress api keys - the right keys work with the official client, JSON, streamed and models', async () => {
    for (const key of [ALICE, BARE, BOB]) {
      const c = client(key);
      const r = await c.chat.completions.create({ model: SIM_MODEL, messages: [{ role: 'user', content: 'keyed' }], max_tokens: 3 });
      assert.equal(r.usage!.completion_tokens, 3);
      let chunks = 0;
      for await (const _ of await c.completions.create({ model: SIM_MODEL, prompt: 'keyed stream', max_tokens: 3, stream: true })) chunks++;
      assert.ok(chunks >= 1);
      assert.deepEqual(
        (await c.models.list()).data.map((m) => m.id),
        [SIM_MODEL],
      );
    }
    const lower = await postJson(`${ingress.url}/v1/completions`, { model: SIM_MODEL, prompt: 'scheme case', max_tokens: 1, stream: true }, { authorization: `bearer ${ALICE}` });
    assert.equal(lower.status, 200);
    await readSse(lower);
  });

  test('ingress api keys - /health and /readiness stay open', async () => {
    assert.equal((await fetch(`${ingress.url}/health`)).status, 200);
    await eventually(async () => (await fetch(`${ingress.url}/readiness`)).status === 200, 'ready without a key');
  });

  test("ingress api keys - the key's name is in metrics and on the request's log lines; no key ever is", async () => {
    const r = await client(ALICE)
      .completions.create({ model: SIM_MODEL, prompt: 'named', max_tokens: 2, kv_transfer_params: { do_remote_prefill: true } } as OpenAI.CompletionCreateParamsNonStreaming)
      .withResponse();
    const reqId = r.response.headers.get('x-request-id');
    const text = await metrics();
    assert.ok(find(text, 'llm_router_http_requests_total', { api_key: 'alice', route: '/v1/completions', status: '200' }).reduce((n, s) => n + s.value, 0) >= 1);
    assert.ok(find(text, 'llm_router_http_requests_total', { api_key: 'key-4' }).length > 0, 'a bare key is named by its line');
    const names = new Set(find(text, 'llm_router_http_requests_total').map((s) => s.labels.api_key));
    assert.deepEqual(
      [...names].filter((n) => !['', 'alice', 'key-4', 'bob'].includes(n!)),
      [],
    );
    // Every line about that request (the stripped-field line at info, the answer at debug) names the key.
    const about = lines.map((l) => JSON.parse(l) as { reqId?: string; apiKey?: string; msg: string }).filter((l) => l.reqId === reqId);
    assert.ok(about.length >= 2, JSON.stringify(about));
    for (const l of about) assert.equal(l.apiKey, 'alice', l.msg);
    const logs = lines.join('');
    for (const k of ALL_KEYS) {
      assert.ok(!text.includes(k), 'a key in the metrics');
      assert.ok(!logs.includes(k), 'a key in the logs');
    }
  });

  test('ingress api keys - editing the file changes nothing until a reload; a reload swaps the keys; a bad file keeps the old ones', async () => {
    await writeFile(keysFile, `carol:${CAROL}\n`);
    assert.equal((await postJson(`${ingress.url}/v1/chat/completions`, chatBody, { authorization: `Bearer ${ALICE}` })).status, 200, 'alice still works');
    await assert401(await postJson(`${ingress.url}/v1/chat/completions`, chatBody, { authorization: `Bearer ${CAROL}` }), 'carol not yet');
    assert.equal(await ingress.reloadApiKeys(), 1);
    assert.equal((await postJson(`${ingress.url}/v1/chat/completions`, chatBody, { authorization: `Bearer ${CAROL}` })).status, 200, 'carol after the reload');
    await assert401(await postJson(`${ingress.url}/v1/chat/completions`, chatBody, { authorization: `Bearer ${ALICE}` }), 'alice removed');
    await writeFile(keysFile, '# emptied by mistake\n');
    await assert.rejects(ingress.reloadApiKeys(), /holds no API key/);
    assert.equal((await postJson(`${ingress.url}/v1/chat/completions`, chatBody, { authorization: `Bearer ${CAROL}` })).status, 200, 'the old keys stay');
    await writeFile(keysFile, FILE);
    await ingress.reloadApiKeys();
  });
});

describe('ingress api keys - the ingress command', () => {
  let stack: Stack;
  let dir: string;
  const scope = cleanupScope();
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llmr-keys-cli-'));
    scope.after(() => rm(dir, { recursive: true, force: true }));
    stack = await startStack(scope, { workers: 1, ingresses: 0 });
  });
  after(() => scope.run());

  const ingressArgs = (file: string) => ['ingress', '--nats-url', stack.nats.url, '--nats-user', 'ingress-2', '--port', '0', '--metrics-port', '0', '--api-keys-file', file];

  for (const [what, content, re] of [
    ['a missing file', null, /ingress cannot start: cannot read --api-keys-file .*missing/],
    ['a file with no keys', '# nothing here yet\n\n', /ingress cannot start: --api-keys-file .* holds no API key/],
    ['a file with a malformed line', 'alice:short\n', /ingress cannot start: --api-keys-file .* line 1: key .*alice.* is shorter/],
  ] as const) {
    test(`ingress api keys - ${what} stops the ingress at start with a clear message`, async () => {
      const file = join(dir, content === null ? 'missing' : `keys-${what.length}`);
      if (content !== null) await writeFile(file, content);
      const p = spawnRouter(scope, ingressArgs(file), { NATS_PASSWORD: 'ingress-2-dev' });
      assert.equal(await p.exited, 1, p.output());
      assert.match(p.output(), re);
      assert.doesNotMatch(p.output(), /ingress listening/);
    });
  }

  test('ingress api keys - SIGHUP re-reads the file', async () => {
    const file = join(dir, 'keys-hup');
    await writeFile(file, `alice:${ALICE}\n`);
    const p = spawnRouter(scope, ingressArgs(file), { NATS_PASSWORD: 'ingress-2-dev' });
    await waitForOutput(p, /ingress listening/, 30_000);
    const line = p
      .output()
      .split('\n')
      .find((l) => l.includes('ingress listening'))!;
    const url = (JSON.parse(line) as { address: string }).address;
    const status = async (key: string) => {
      const r = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      await r.arrayBuffer();
      return r.status;
    };
    await eventually(async () => (await status(ALICE)) === 200, 'alice is served', 20_000);
    await writeFile(file, `carol:${CAROL}\n`);
    assert.equal(await status(CAROL), 401, 'an edit alone changes nothing');
    p.kill('SIGHUP');
    await eventually(async () => (await status(CAROL)) === 200, 'carol after SIGHUP', 20_000);
    assert.equal(await status(ALICE), 401);
    assert.equal(p.proc.exitCode, null, 'SIGHUP did not stop the ingress');
    assert.doesNotMatch(p.output(), new RegExp(`${ALICE}|${CAROL}`));
  });
});
