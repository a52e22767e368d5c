// Prometheus metrics of the ingress and the scheduler: the exposition passes `promtool check
// metrics` (Debian's prometheus package), and the numbers move as expected over a known sequence
// of requests, failures included.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { SimWorker } from '../../sim/worker.ts';
import { serveMetrics } from '../../runtime/metrics-server.ts';
import { SIM_MODEL, eventually, setFaults } from '../helpers/sim.ts';
import { find, postJson, readSse } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

function promtool(): string | null {
  for (const p of ['/usr/bin/promtool', '/usr/local/bin/promtool']) if (existsSync(p)) return p;
  const r = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Sum of the samples of `name` whose labels include `labels`. */
function sum(text: string, name: string, labels: Record<string, string> = {}): number {
  return find(text, name, labels).reduce((n, s) => n + s.value, 0);
}

describe('metrics - ingress and scheduler', () => {
  let stack: Stack;
  let schedulerUrl: string;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 2, policy: 'round_robin' });
    const m = await serveMetrics(stack.schedulers[0]!.metrics.registry, '127.0.0.1', 0);
    scope.after(() => new Promise((r) => m.server.close(r)));
    schedulerUrl = m.url;
  });
  after(() => scope.run());

  const scrape = async (url: string) => (await fetch(url)).text();

  test('metrics - promtool accepts both expositions', async (t) => {
    const tool = promtool();
    if (!tool) return t.skip('promtool is not installed (Debian package prometheus)');
    // Some traffic first, so that every family has samples.
    const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'warm', max_tokens: 3, stream: true });
    await readSse(r);
    for (const url of [stack.ingresses[0]!.metricsUrl, schedulerUrl]) {
      const text = await scrape(url);
      const res: { status: number | null; stdout: string; stderr: string } = spawnSync(tool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(res.status, 0, `promtool on ${url}:\n${res.stdout}${res.stderr}`);
    }
  });

  test('metrics - the numbers follow a known sequence of requests', async () => {
    const ingressBefore = await scrape(stack.ingresses[0]!.metricsUrl);
    const schedBefore = await scrape(schedulerUrl);
    const delta = (after: string, before: string, name: string, labels: Record<string, string> = {}) => sum(after, name, labels) - sum(before, name, labels);

    // 3 streamed completions (4 tokens each), 2 JSON chats (3 tokens each), 1 unknown model.
    for (let i = 0; i < 3; i++) {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: `s${i}`, max_tokens: 4, stream: true });
      assert.ok((await readSse(r)).done);
    }
    for (let i = 0; i < 2; i++) {
      const r = await postJson(`${stack.url()}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: `c${i}` }], max_tokens: 3 });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    const nf = await postJson(`${stack.url()}/v1/completions`, { model: 'nope', prompt: 'x' });
    assert.equal(nf.status, 404);
    await nf.arrayBuffer();
    // One worker answering 503: round robin sends some of these there first; each such attempt is retried on the other.
    const w = stack.workers[0] as SimWorker;
    await setFaults(w, { errorRate: 1, errorStatus: 503 });
    for (let i = 0; i < 4; i++) {
      const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: `r${i}`, max_tokens: 2 });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    await setFaults(w, { reset: true });

    await eventually(async () => delta(await scrape(stack.ingresses[0]!.metricsUrl), ingressBefore, 'llm_router_http_requests_total') === 10, 'the ingress counted 10 requests');
    const ingress = await scrape(stack.ingresses[0]!.metricsUrl);
    const sched = await scrape(schedulerUrl);
    assert.equal(delta(ingress, ingressBefore, 'llm_router_http_requests_total', { route: '/v1/completions', status: '200', model: SIM_MODEL }), 7);
    assert.equal(delta(ingress, ingressBefore, 'llm_router_http_requests_total', { route: '/v1/chat/completions', status: '200', model: SIM_MODEL }), 2);
    assert.equal(delta(ingress, ingressBefore, 'llm_router_http_requests_total', { status: '404', model: '' }), 1);
    assert.equal(delta(ingress, ingressBefore, 'llm_router_errors_total', { code: 'LLMR_ERR_MODEL_NOT_FOUND' }), 1);
    assert.equal(delta(ingress, ingressBefore, 'llm_router_ttft_seconds_count'), 9, 'a first byte for every answered request');
    // Gaps between body writes: at least one per stream; at most one per event (coalescing may merge some).
    const gaps = delta(ingress, ingressBefore, 'llm_router_itl_seconds_count', { route: '/v1/completions' });
    assert.ok(gaps >= 3 && gaps <= 3 * 4, `gaps ${gaps}`);
    assert.equal(sum(ingress, 'llm_router_ingress_open_streams'), 0);
    assert.equal(sum(ingress, 'llm_router_nats_connected'), 1);

    assert.equal(delta(sched, schedBefore, 'llm_router_scheduler_requests_total', { outcome: 'ok' }), 9);
    assert.equal(delta(sched, schedBefore, 'llm_router_scheduler_requests_total', { outcome: 'LLMR_ERR_MODEL_NOT_FOUND', model: '_unknown' }), 1);
    const failed = delta(sched, schedBefore, 'llm_router_upstream_responses_total', { status: '503' });
    assert.ok(failed >= 1 && failed <= 4, `503s: ${failed}`);
    assert.equal(delta(sched, schedBefore, 'llm_router_retries_total', { reason: 'status_503' }), failed, 'each 503 was retried');
    assert.equal(delta(sched, schedBefore, 'llm_router_upstream_responses_total', { status: '200' }), 9);
    assert.equal(delta(sched, schedBefore, 'llm_router_tokens_total', { kind: 'completion' }), 3 * 4 + 2 * 3 + 4 * 2);
    assert.equal(delta(sched, schedBefore, 'llm_router_policy_picks_total', { policy: 'round_robin' }), 9 + failed);
    assert.equal(sum(sched, 'llm_router_workers', { state: 'ready' }), 2);
    assert.equal(sum(sched, 'llm_router_circuit_breaker_state'), 0);
    assert.ok(sum(sched, 'llm_router_heartbeats_total', { result: 'accepted' }) > 0);
  });
});
