// bench/loadgen against simulated vLLM workers over real sockets: each workload runs briefly
// against one worker directly and its summary must be complete and consistent with what the
// workload asked for (the simulator counts tokens exactly as the workload does). A stub server
// checks that failures are reported, not hung on. No assertion depends on timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { writeSweepCharts } from '../../bench/loadgen/charts.ts';
import { resolveRunSpec, runLoad, type RequestRecord, type RunResult } from '../../bench/loadgen/run.ts';
import { runSweep } from '../../bench/loadgen/sweep.ts';
import { METRICS } from '../../bench/loadgen/summary.ts';
import { createSource, resolveWorkload, SESSION_HEADER } from '../../bench/loadgen/workloads.ts';
import { SIM_MODEL, startSimWorker } from '../helpers/sim.ts';

function checkConsistent(r: RunResult): RequestRecord[] {
  const s = r.summary;
  const measured = r.records.filter((x) => !x.warmup);
  assert.ok(s.completed > 0, 'some requests completed');
  assert.equal(s.failed, 0, `no failures (first: ${measured.find((x) => !x.ok)?.error})`);
  assert.equal(s.completed, measured.length);
  assert.equal(
    s.total_output_tokens,
    measured.reduce((a, x) => a + x.expectedOutputTokens, 0),
    'output tokens = sum of max_tokens',
  );
  assert.equal(
    s.total_input_tokens,
    measured.reduce((a, x) => a + x.expectedInputTokens, 0),
    'input tokens = what the workload built',
  );
  assert.equal(
    s.total_cached_tokens,
    measured.reduce((a, x) => a + x.cachedTokens, 0),
  );
  assert.ok(s.duration > 0);
  assert.ok(Math.abs(s.request_throughput - s.completed / s.duration) < 1e-9);
  assert.ok(s.max_concurrent_requests >= 1);
  assert.ok(s.max_output_tokens_per_s >= 1);
  for (const m of METRICS) {
    for (const k of ['mean', 'median', 'std', 'p50', 'p90', 'p99'] as const) {
      const v = s[`${k}_${m}_ms`];
      assert.ok(Number.isFinite(v) && v >= 0, `${k}_${m}_ms = ${v}`);
    }
    assert.ok(s[`p99_${m}_ms`] >= s[`p50_${m}_ms`]);
  }
  for (const x of measured) {
    assert.equal(x.promptTokens, x.expectedInputTokens, 'usage.prompt_tokens equals the exact prompt length');
    assert.equal(x.outputTokens, x.expectedOutputTokens, 'ignore_eos makes output length exact');
    assert.equal(x.contentEvents, x.outputTokens, 'one token per SSE event');
    assert.equal(x.itlMs.length, x.outputTokens - 1);
    assert.ok(x.ttftMs > 0 && x.ttftMs <= x.e2eMs);
    assert.equal(x.status, 200);
  }
  return measured;
}

test('loadgen - each workload against a simulated worker gives a complete, consistent summary', async (t) => {
  const [w1, w2] = await Promise.all([startSimWorker(t), startSimWorker(t)]);

  await t.test('loadgen - random, open loop for a duration, with warm-ups left out', async () => {
    const r = await runLoad({
      baseUrl: w1.url,
      model: SIM_MODEL,
      workload: { kind: 'random', inputLen: 64, outputLen: 12, rangeRatio: 0.5, prefixLen: 16 },
      requestRate: 40,
      durationS: 1,
      numWarmups: 3,
    });
    checkConsistent(r);
    assert.equal(r.records.filter((x) => x.warmup).length, 3);
    assert.ok(r.records.every((x) => x.route === 'completions' && x.sessionId === null));
  });

  await t.test('loadgen - a time-based warm-up sends the same arrivals first and measures only the window after it', async () => {
    const r = await runLoad({
      baseUrl: w1.url,
      model: SIM_MODEL,
      workload: { kind: 'random', inputLen: 32, outputLen: 4 },
      requestRate: 50,
      burstiness: 1e9, // (almost) evenly spaced, so the counts below are exact up to one
      warmupS: 0.4,
      durationS: 0.6,
      seed: 3,
    });
    const measured = checkConsistent(r);
    const warm = r.records.filter((x) => x.warmup);
    assert.ok(Math.abs(warm.length - 20) <= 1, `about 0.4 s × 50/s warm-up requests, got ${warm.length}`);
    assert.ok(Math.abs(measured.length - 30) <= 1, `about 0.6 s × 50/s measured requests, got ${measured.length}`);
    assert.equal(r.summary.completed, measured.length, 'the summary counts the window only');
    assert.ok(
      measured.every((x) => x.dueAtMs >= 0),
      'measured requests were due in the window',
    );
    assert.ok(
      warm.every((x) => x.dueAtMs < 400),
      'warm-up requests were due before it',
    );
    assert.throws(() => resolveRunSpec({ baseUrl: w1.url, model: 'm', workload: { kind: 'random' }, warmupS: -1 }), RangeError);
  });

  await t.test('loadgen - shared_prefix: a request whose prefix was answered before it was sent hits the cache', async () => {
    const prefixLen = 64;
    const r = await runLoad({
      baseUrl: w2.url,
      model: SIM_MODEL,
      workload: { kind: 'shared_prefix', numPrefixes: 3, prefixLen, suffixLen: 16, outputLen: 8 },
      maxConcurrency: 4,
      numPrompts: 30,
    });
    const measured = checkConsistent(r);
    assert.ok(r.summary.mean_cached_tokens > 0);
    // Which prefix each request used is not in the record; rebuild it from the workload.
    const src = createSource(resolveWorkload(r.spec.workload), { model: SIM_MODEL, seed: r.spec.seed });
    const prefixOf = measured.map(() => (src.next()!.body.prompt as string).split(' ').slice(0, prefixLen).join(' '));
    let checked = 0;
    measured.forEach((x, i) => {
      const answeredBefore = measured.some((y, j) => j < i && prefixOf[j] === prefixOf[i] && y.sentAtMs + y.e2eMs <= x.sentAtMs);
      if (!answeredBefore) return;
      checked++;
      assert.ok(x.cachedTokens >= prefixLen, `request ${i} reused its prefix (cached ${x.cachedTokens})`);
    });
    assert.ok(checked > 0);
  });

  await t.test('loadgen - multi_turn: histories grow turn by turn and later turns hit the cache', async () => {
    const r = await runLoad({
      baseUrl: w1.url,
      model: SIM_MODEL,
      workload: { kind: 'multi_turn', sessions: 4, turns: 3, systemPromptLen: 48, userTurnLen: 16, outputLen: 10 },
      maxConcurrency: 4,
      numPrompts: 24,
      numWarmups: 2,
    });
    const measured = checkConsistent(r);
    assert.ok(r.summary.mean_cached_tokens > 0);
    const all = r.records;
    assert.ok(all.every((x) => x.route === 'chat' && x.sessionId !== null && x.turn !== null));
    const bySession = new Map<string, RequestRecord[]>();
    for (const x of all) bySession.set(x.sessionId!, [...(bySession.get(x.sessionId!) ?? []), x]);
    for (const [id, turns] of bySession) {
      turns.sort((a, b) => a.turn! - b.turn!);
      assert.deepEqual(
        turns.map((x) => x.turn),
        turns.map((_, i) => i),
        `session ${id} turns in order`,
      );
      for (let i = 1; i < turns.length; i++) {
        const prev = turns[i - 1]!;
        const cur = turns[i]!;
        assert.ok(cur.promptTokens > prev.promptTokens + prev.outputTokens, `session ${id} history grows`);
        if (cur.warmup === prev.warmup) assert.ok(cur.sentAtMs >= prev.sentAtMs + prev.e2eMs, `session ${id} turn ${cur.turn} sent after the previous answer`);
        assert.ok(cur.cachedTokens > 0, `session ${id} turn ${cur.turn} reused the cache`);
      }
    }
    assert.ok(measured.some((x) => x.turn! >= 1));
  });
});

test('loadgen - a sweep over two systems and two rates gives points that chart to SVG', async (t) => {
  const [w1, w2] = await Promise.all([startSimWorker(t), startSimWorker(t)]);
  const dir = await mkdtemp(join(tmpdir(), 'loadgen-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const runs: string[] = [];
  const points = await runSweep({
    systems: [
      { name: 'worker-a', baseUrl: w1.url },
      { name: 'worker-b', baseUrl: w2.url },
    ],
    rates: [20, 50],
    run: { model: SIM_MODEL, workload: { kind: 'random', inputLen: 32, outputLen: 6 }, numPrompts: 6 },
    onRun: (system, rate, r) => {
      runs.push(`${system.name}@${rate}`);
      checkConsistent(r);
    },
  });
  assert.deepEqual(runs, ['worker-a@20', 'worker-a@50', 'worker-b@20', 'worker-b@50']);
  assert.deepEqual(
    points.map((p) => [p.system, p.offeredRate, p.summary.completed]),
    [
      ['worker-a', 20, 6],
      ['worker-a', 50, 6],
      ['worker-b', 20, 6],
      ['worker-b', 50, 6],
    ],
  );
  const files = await writeSweepCharts(points, dir, { prefix: 'it' });
  for (const path of [files.ttft, files.throughput, files.itl]) {
    const svg = await readFile(path, 'utf8');
    assert.match(svg, /^<svg /);
    assert.ok(svg.includes('>worker-a</text>') && svg.includes('>worker-b</text>'), path);
  }
});

test('loadgen - failures are counted with their cause and a hung server times out', async (t) => {
  let mode: 'error' | 'hang' | 'cut' = 'error';
  const seen: Record<string, string | string[] | undefined>[] = [];
  const open = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.headers);
    req.resume();
    open.add(res);
    res.on('close', () => open.delete(res));
    if (mode === 'error') {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom","type":"InternalServerError","param":null,"code":500}}');
    } else if (mode === 'cut') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n');
    }
    // 'hang': never answers.
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const res of open) res.destroy();
    server.close();
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const run = (): Promise<RunResult> =>
    runLoad({ baseUrl, model: 'm', workload: { kind: 'multi_turn', sessions: 2, turns: 2, systemPromptLen: 8, userTurnLen: 8, outputLen: 4 }, maxConcurrency: 2, numPrompts: 4, requestTimeoutS: 0.3 });

  const errored = await run();
  assert.equal(errored.summary.completed, 0);
  assert.equal(errored.summary.failed, 4);
  assert.match(errored.records[0]!.error!, /^HTTP 500: .*boom/);
  assert.ok(
    seen.every((h) => typeof h[SESSION_HEADER] === 'string' && typeof h['x-request-id'] === 'string'),
    'session and request id headers sent',
  );
  assert.equal(new Set(errored.records.map((x) => x.sessionId)).size, 4, 'a failed turn ends its session');

  mode = 'cut';
  const cut = await run();
  assert.equal(cut.summary.failed, 4);
  assert.match(cut.records[0]!.error!, /truncated stream/);

  mode = 'hang';
  const hung = await run();
  assert.equal(hung.summary.failed, 4);
  assert.ok(
    hung.records.every((x) => /^timeout/.test(x.error!)),
    hung.records[0]!.error!,
  );
});
