// Auditing over the whole stack on the shipped nats.conf (JetStream on): each request leaves
// exactly one record per phase in LLM_AUDIT, written by the process that knows it; the records
// read back through `llm-router audit` as the auditor user; with --audit-bodies none no prompt
// text is anywhere in the stream; a retry by the scheduler still leaves one decision record.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readAudit } from '../../audit/reader.ts';
import { AUDIT_PHASES, type AuditRecord } from '../../proto/audit.ts';
import { SCHEDULER_DEFAULTS } from '../../scheduler/options.ts';
import { eventually, SIM_MODEL, setFaults } from '../helpers/sim.ts';
import { postJson, readSse } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

const CLI = fileURLToPath(new URL('../../bin/llm-router.js', import.meta.url));
const SECRET = 'the-secret-prompt-words';

async function records(stack: Stack): Promise<AuditRecord[]> {
  const nc = await stack.connect('auditor');
  const out: AuditRecord[] = [];
  for await (const i of readAudit(nc, { since: 0, follow: false })) {
    assert.ok(i.ok, `record #${i.seq} unreadable`);
    if (i.ok) out.push(i.record);
  }
  return out;
}

/** The CLI as a child process, without blocking this one. */
function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env, encoding: 'utf8', timeout: 60_000 }, (e, stdout, stderr) => resolve({ status: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr }));
  });
}

function byRequest(rs: readonly AuditRecord[], requestId: string): AuditRecord[] {
  return rs.filter((r) => r.requestId === requestId);
}

describe('audit - records in LLM_AUDIT', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 2, schedulers: 0, ingresses: 0 });
    await stack.addScheduler({ id: 'sched-audit', audit: { ...SCHEDULER_DEFAULTS.audit, mode: 'best_effort' } });
    await stack.addIngress({ audit: 'best_effort', auditBodies: 'full' });
    await stack.waitForWorkers(2);
  });
  after(() => scope.run());

  test('audit - one record per phase for a streamed and a JSON request, each from its process', async () => {
    const s = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: `stream ${SECRET}`, max_tokens: 4, stream: true }, { 'x-request-id': 'audit-stream-1' });
    assert.equal(s.status, 200);
    await readSse(s);
    const j = await postJson(`${stack.url()}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: 'json' }], max_tokens: 3 }, { 'x-request-id': 'audit-json-1' });
    assert.equal(j.status, 200);
    await j.arrayBuffer();
    await eventually(async () => byRequest(await records(stack), 'audit-json-1').length === 4, 'the JSON request’s four records');
    const all = await records(stack);
    for (const id of ['audit-stream-1', 'audit-json-1']) {
      const rs = byRequest(all, id);
      assert.deepEqual(rs.map((r) => r.phase).sort(), [...AUDIT_PHASES].sort(), id);
      assert.equal(new Set(rs.map((r) => r.id)).size, 1, 'one audit id');
      const req = rs.find((r) => r.phase === 'request')!;
      const dec = rs.find((r) => r.phase === 'decision')!;
      const end = rs.find((r) => r.phase === 'end')!;
      assert.ok(req.phase === 'request' && req.ingress === 'ingress-1' && req.model === SIM_MODEL && req.body.mode === 'full');
      assert.ok(dec.phase === 'decision' && dec.scheduler === 'sched-audit' && dec.attempts.length === 1 && dec.attempts[0]!.status === 200 && dec.outcome === 'ok');
      assert.ok(end.phase === 'end' && end.status === 200 && end.errorCode === null && end.usage !== null && end.usage.completionTokens > 0);
      assert.equal(end.worker, dec.worker);
    }
    const body = byRequest(all, 'audit-stream-1').find((r) => r.phase === 'request');
    assert.ok(body?.phase === 'request' && body.body.text?.includes(SECRET), 'full bodies are kept');
  });

  test('audit - a request retried on another worker has one decision record telling both attempts', async () => {
    const [bad] = stack.workers;
    await setFaults(bad!, { errorRate: 1, errorStatus: 503 });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'retry', max_tokens: 2 }, { 'x-request-id': `audit-retry-${i}` });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      }
    } finally {
      await setFaults(bad!, { reset: true });
    }
    await eventually(async () => byRequest(await records(stack), 'audit-retry-1').length === 4, 'the records');
    const all = await records(stack);
    const decisions = ['audit-retry-0', 'audit-retry-1'].flatMap((id) => byRequest(all, id).filter((r) => r.phase === 'decision'));
    assert.equal(decisions.length, 2, 'one decision record each');
    const retried = decisions.find((d) => d.phase === 'decision' && d.attempts.length === 2);
    assert.ok(retried?.phase === 'decision', 'round robin sent one of the two to the failing worker first');
    assert.deepEqual(
      retried.attempts.map((a) => a.status),
      [503, 200],
    );
    assert.deepEqual(
      retried.retries.map((x) => x.reason),
      ['status_503'],
    );
  });

  test('audit - llm-router audit show tells the story; export writes JSON lines', async () => {
    const env = { ...process.env, NATS_URL: stack.nats.url, NATS_USER: 'auditor', NATS_PASSWORD: 'auditor-dev', LLMR_FROM_SOURCE: '1' };
    const show = spawnSync(process.execPath, [CLI, 'audit', 'show', 'audit-stream-1'], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(show.status, 0, show.stderr);
    assert.match(show.stdout, /request audit-stream-1 \(audit id [0-9A-Z]{26}\)/);
    for (const phase of ['request', 'decision', 'first_token', 'end']) assert.match(show.stdout, new RegExp(`\\+\\s*\\d+ ms  ${phase}`));
    assert.match(show.stdout, /end\s+200 after \d+ ms from /);
    const missing = spawnSync(process.execPath, [CLI, 'audit', 'show', 'no-such-request'], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(missing.status, 1);
    const exp = spawnSync(process.execPath, [CLI, 'audit', 'export', '--since', '1h'], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(exp.status, 0, exp.stderr);
    const lines = exp.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditRecord);
    assert.ok(lines.length >= 16);
    assert.ok(lines.every((r) => AUDIT_PHASES.includes(r.phase)));
  });
});

describe('audit - replay', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 2, schedulers: 0, ingresses: 0 });
    await stack.addScheduler({ id: 'sched-replay', audit: { ...SCHEDULER_DEFAULTS.audit, mode: 'best_effort' } });
    await stack.addIngress({ audit: 'best_effort', auditBodies: 'full' });
    await stack.waitForWorkers(2);
  });
  after(() => scope.run());

  test('replay - 200 recorded requests are each sent again once, marked, and reported beside the recorded answers', async () => {
    const N = 200;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      const body =
        i % 2
          ? { model: SIM_MODEL, prompt: `replay ${i}`, max_tokens: 3, ignore_eos: true }
          : { model: SIM_MODEL, messages: [{ role: 'user', content: `replay ${i}` }], max_tokens: 2, ignore_eos: true, stream: true, stream_options: { include_usage: true } };
      const path = i % 2 ? '/v1/completions' : '/v1/chat/completions';
      sends.push(
        postJson(`${stack.url()}${path}`, body, { 'x-request-id': `replay-src-${i}` }).then(async (r) => {
          assert.equal(r.status, 200);
          await r.arrayBuffer();
        }),
      );
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(sends);
    await eventually(async () => (await records(stack)).filter((r) => r.requestId.startsWith('replay-src-') && r.phase === 'end').length === N, 'every end record', 20_000);
    const originals = (await records(stack)).filter((r) => r.requestId.startsWith('replay-src-'));
    const { planReplay, replayTo, summarize } = await import('../../audit/replay.ts');
    const plan = planReplay(originals, {}, 2);
    assert.equal(plan.items.length, N);
    assert.equal(plan.withoutBody, 0);
    const sent = await replayTo({ url: stack.url(), timeoutMs: 30_000 }, plan.items, () => undefined).done;
    const summary = summarize(sent);
    assert.equal(summary.sent, N);
    assert.deepEqual(summary.statuses, { '200': N });
    assert.equal(summary.statusChanged, 0);
    // The same answer lengths as recorded (max_tokens with ignore_eos).
    for (const s of sent) assert.ok(!('error' in s.replay) && s.recorded && s.replay.completionTokens === s.recorded.completionTokens, s.id);
    // Each original was replayed exactly once, and the replays say which they repeat.
    await eventually(async () => (await records(stack)).filter((r) => r.phase === 'request' && r.headers['x-llm-replay-of'] !== undefined).length === N, 'the replays’ own records', 20_000);
    const marks = (await records(stack)).flatMap((r) => (r.phase === 'request' && r.headers['x-llm-replay-of'] ? [r.headers['x-llm-replay-of']] : []));
    assert.deepEqual(
      [...marks].sort(),
      originals
        .filter((r) => r.phase === 'request')
        .map((r) => r.id)
        .sort(),
    );
    assert.ok(Number.isFinite(summary.interArrivalError));
  });

  test('replay - llm-router replay --id sends one request again and sets it beside the recorded one', async () => {
    const env = { ...process.env, NATS_URL: stack.nats.url, NATS_USER: 'auditor', NATS_PASSWORD: 'auditor-dev', LLMR_FROM_SOURCE: '1' };
    const report = `${process.env.TMPDIR ?? '/tmp'}/llmr-replay-${process.pid}.json`;
    // Not spawnSync: the ingress it replays to runs in this process, whose event loop must go on.
    const out = await run([CLI, 'replay', '--id', 'replay-src-7', '--target', stack.url(), '--report', report], env);
    assert.equal(out.status, 0, `${out.stdout}\n${out.stderr}`);
    assert.match(out.stdout, /replay: 200 ttft \d+ ms e2e \d+ ms tokens \d+\+3 {2}\| {2}recorded: 200 ttft \d+ ms e2e \d+ ms tokens \d+\+3/);
    assert.match(out.stdout, /\| requests \| 1 \| 1 sent; 200: 1 \|/);
    const none = await run([CLI, 'replay', '--id', 'never-recorded', '--target', stack.url()], env);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /0 requests to replay/);
  });
});

describe('audit - across a nats-server restart', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 1, schedulers: 0, ingresses: 0 });
    await stack.addScheduler({ id: 'sched-restart', audit: { ...SCHEDULER_DEFAULTS.audit, mode: 'best_effort' } });
    await stack.addIngress({ audit: 'best_effort', auditBodies: 'hash' });
    await stack.waitForWorkers(1);
  });
  after(() => scope.run());

  const ask = (id: string) => postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'restart', max_tokens: 2 }, { 'x-request-id': id });

  test('audit - records stored before a restart stay, and requests served after it are recorded once per phase', async () => {
    const before = await ask('restart-before');
    assert.equal(before.status, 200);
    await before.arrayBuffer();
    await eventually(async () => byRequest(await records(stack), 'restart-before').length === 4, 'the records before');
    await stack.nats.restart();
    // The processes reconnect by themselves; serve again once they have.
    let n = 0;
    await eventually(
      async () => {
        const r = await ask(`restart-after-${n++}`);
        await r.arrayBuffer();
        return r.status === 200;
      },
      'requests served after the restart',
      30_000,
    );
    const served = `restart-after-${n - 1}`;
    await eventually(async () => byRequest(await records(stack), served).length === 4, 'the records after', 20_000);
    const all = await records(stack);
    for (const id of ['restart-before', served])
      assert.deepEqual(
        byRequest(all, id)
          .map((r) => r.phase)
          .sort(),
        [...AUDIT_PHASES].sort(),
        `${id}: exactly one record per phase`,
      );
  });
});

describe('audit - redaction', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, { workers: 1, schedulers: 0, ingresses: 0 });
    await stack.addScheduler({ id: 'sched-redact', audit: { ...SCHEDULER_DEFAULTS.audit, mode: 'best_effort' } });
    await stack.addIngress({ audit: 'best_effort', auditBodies: 'none' });
    await stack.waitForWorkers(1);
  });
  after(() => scope.run());

  test('audit - with --audit-bodies none no prompt text is anywhere in the stream', async () => {
    const r = await postJson(`${stack.url()}/v1/chat/completions`, { model: SIM_MODEL, messages: [{ role: 'user', content: SECRET }], max_tokens: 2 }, { 'x-request-id': 'redacted-1' });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    await eventually(async () => byRequest(await records(stack), 'redacted-1').length === 4, 'the records');
    const nc = await stack.connect('auditor');
    let raw = '';
    const { jetstream } = await import('@nats-io/jetstream');
    const c = await jetstream(nc).consumers.get('LLM_AUDIT', { deliver_policy: 'all' });
    const info = await c.info(true);
    const msgs = await c.fetch({ max_messages: info.num_pending, expires: 5000 });
    for await (const m of msgs) raw += m.string();
    assert.ok(raw.includes('redacted-1'));
    assert.ok(!raw.includes(SECRET), 'the prompt is not in the stream');
    const req = byRequest(await records(stack), 'redacted-1').find((x) => x.phase === 'request');
    assert.ok(req?.phase === 'request' && req.body.mode === 'none' && req.body.sha256 === undefined && req.body.text === undefined);
  });
});

describe('audit - required mode', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    // A bus of the test's own (anonymous, JetStream on), so that the test may delete the stream.
    stack = await startStack(scope, { workers: 1, schedulers: 0, ingresses: 0, nats: {} });
    await stack.addScheduler({ id: 'sched-required', audit: { ...SCHEDULER_DEFAULTS.audit, mode: 'required' } });
    await stack.addIngress({ id: 'ingress-required', audit: 'required', auditBodies: 'hash' });
    await stack.waitForWorkers(1);
  });
  after(() => scope.run());

  const ask = (id: string) => postJson(`${stack.url()}/v1/completions`, { model: SIM_MODEL, prompt: 'required', max_tokens: 2 }, { 'x-request-id': id });

  test('audit - JetStream unable to store: new requests get 503 LLMR_ERR_AUDIT_UNAVAILABLE, and what was accepted is recorded once it can be', async () => {
    const first = await ask('required-ok');
    assert.equal(first.status, 200);
    await first.arrayBuffer();
    // Its records stored (they leave in batches a few milliseconds after the events).
    await eventually(async () => byRequest(await records(stack), 'required-ok').length === 4, 'the first request’s records');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const jsm = await jetstreamManager(await stack.connect('admin', 'test-jsm'));
    const config = (await jsm.streams.info('LLM_AUDIT')).config;
    await jsm.streams.delete('LLM_AUDIT');
    // Accepted before anyone knew: served, its records wait.
    const accepted = await ask('required-accepted');
    assert.equal(accepted.status, 200);
    await accepted.arrayBuffer();
    let refused: Response | null = null;
    await eventually(async () => {
      const r = await ask('required-refused');
      if (r.status === 200) {
        await r.arrayBuffer();
        return false;
      }
      refused = r;
      return true;
    }, 'new requests refused');
    const body = (await refused!.json()) as { error: { code: string } };
    assert.equal(refused!.status, 503);
    assert.equal(body.error.code, 'LLMR_ERR_AUDIT_UNAVAILABLE');
    assert.ok(Number(refused!.headers.get('retry-after')) >= 1);
    // JetStream can store again: the waiting records go in, and requests are served again.
    await jsm.streams.add(config);
    await eventually(async () => byRequest(await records(stack), 'required-accepted').length === 4, 'the accepted request’s four records', 20_000);
    await eventually(
      async () => {
        const r = await ask('required-again');
        await r.arrayBuffer();
        return r.status === 200;
      },
      'requests served again',
      20_000,
    );
    const all = await records(stack);
    assert.deepEqual(
      byRequest(all, 'required-accepted')
        .map((r) => r.phase)
        .sort(),
      [...AUDIT_PHASES].sort(),
      'exactly one record per phase',
    );
    assert.equal(byRequest(all, 'required-refused').length, 0, 'refused requests were never served');
  });
});
