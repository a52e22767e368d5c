// Per-key rate limits over the whole stack on the shipped nats.conf: two ingress replicas share
// each key's requests and tokens per minute through JetStream KV, so that neither can multiply the
// limit; answers carry OpenAI's x-ratelimit-* headers, refusals are 429 LLMR_ERR_RATE_LIMITED with
// Retry-After; without keys a default limit applies per client address.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SIM_MODEL } from '../helpers/sim.ts';
import { postJson, readSse, value } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

const KEYS = { capped: 'sk-capped-0123456789abcdef', tokens: 'sk-tokens-0123456789abcdef', free: 'sk-free-0123456789abcdef' };
const ask = (stream = false, maxTokens = 4) => ({ model: SIM_MODEL, prompt: 'hi', max_tokens: maxTokens, stream });

/** Limits count per wall-clock minute: start a test early enough in one that it ends in it. */
async function freshMinute(needS = 15): Promise<void> {
  const into = Date.now() % 60_000;
  if (into > 60_000 - needS * 1000) await new Promise((r) => setTimeout(r, 60_000 - into + 200));
}

async function call(stack: Stack, ingress: number, key: string | null, body: unknown) {
  const r = await postJson(`${stack.url(ingress)}/v1/completions`, body, key ? { authorization: `Bearer ${key}` } : {});
  const h = (n: string) => r.headers.get(n);
  if (r.status === 200 && (body as { stream?: boolean }).stream) await readSse(r);
  const json = r.status === 200 && (body as { stream?: boolean }).stream ? null : ((await r.json()) as { error?: { code?: string; message?: string } });
  return {
    status: r.status,
    code: json?.error?.code,
    message: json?.error?.message,
    limit: h('x-ratelimit-limit-requests'),
    remaining: h('x-ratelimit-remaining-requests'),
    reset: h('x-ratelimit-reset-requests'),
    retryAfter: h('retry-after'),
    tokensRemaining: h('x-ratelimit-remaining-tokens'),
  };
}

describe('rate limits - per key, across ingress replicas', () => {
  let stack: Stack;
  let dir: string;
  const scope = cleanupScope();
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llmr-rate-'));
    const keysFile = join(dir, 'keys');
    await writeFile(keysFile, [`capped:${KEYS.capped} rpm=6`, `tokens:${KEYS.tokens} tpm=300`, `free:${KEYS.free}`].join('\n'));
    stack = await startStack(scope, { workers: 1, ingresses: 2, ingress: { apiKeysFile: keysFile } });
  });
  after(async () => {
    await scope.run();
    await rm(dir, { recursive: true, force: true });
  });

  test('rate limits - a key with rpm=6 gets 6 requests a minute in all, however they spread over two replicas', async () => {
    await freshMinute();
    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await call(stack, i % 2, KEYS.capped, ask(i % 3 === 0)));
    const ok = answers.filter((a) => a.status === 200);
    assert.equal(ok.length, 6, JSON.stringify(answers.map((a) => a.status)));
    for (const a of ok) {
      assert.equal(a.limit, '6');
      assert.ok(Number(a.remaining) >= 0 && Number(a.remaining) < 6, `remaining ${a.remaining}`);
      assert.match(a.reset ?? '', /^(\d+s|1m0s)$/);
    }
    for (const a of answers.filter((x) => x.status !== 200)) {
      assert.equal(a.status, 429);
      assert.equal(a.code, 'LLMR_ERR_RATE_LIMITED');
      assert.match(a.message ?? '', /requests per minute \(limit 6\) for this API key/);
      assert.ok(Number(a.retryAfter) >= 1 && Number(a.retryAfter) <= 60, `Retry-After ${a.retryAfter}`);
      assert.equal(a.remaining, '0');
    }
    // Both replicas refused some: neither could have admitted 6 of its own.
    assert.ok(answers.some((a, i) => a.status === 429 && i % 2 === 0) && answers.some((a, i) => a.status === 429 && i % 2 === 1));
    let refused = 0;
    for (const ing of stack.ingresses) refused += value(await (await fetch(ing.metricsUrl)).text(), 'llm_router_rate_limited_total', { api_key: 'capped', kind: 'requests' });
    assert.equal(refused, 6);
  });

  test('rate limits - tokens: the prompt and max_tokens are counted when the request is admitted', async () => {
    await freshMinute();
    const first = await call(stack, 0, KEYS.tokens, ask(false, 200));
    assert.equal(first.status, 200);
    assert.ok(Number(first.tokensRemaining) <= 100, `tokens remaining ${first.tokensRemaining}`);
    const second = await call(stack, 1, KEYS.tokens, ask(false, 200));
    assert.equal(second.status, 429);
    assert.equal(second.code, 'LLMR_ERR_RATE_LIMITED');
    assert.match(second.message ?? '', /tokens per minute \(limit 300\)/);
    assert.equal((await call(stack, 1, KEYS.tokens, ask(false, 20))).status, 200, 'a smaller request still fits');
  });

  test('rate limits - a key without limits is not limited and gets no x-ratelimit headers', async () => {
    for (let i = 0; i < 8; i++) {
      const a = await call(stack, i % 2, KEYS.free, ask());
      assert.equal(a.status, 200);
      assert.equal(a.limit, null);
    }
  });
});

describe('rate limits - without keys, per client address', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 1, ingress: { anonymousRpm: 3 } });
  });
  after(() => scope.run());

  test('rate limits - --anonymous-rpm limits each client address', async () => {
    await freshMinute();
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await call(stack, 0, null, ask())).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const refused = await call(stack, 0, null, ask());
    assert.match(refused.message ?? '', /for this client address/);
  });
});
