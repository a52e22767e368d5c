// The one retry loop of whole and P/D requests, driven by scripted steps over three workers:
// which failures are retried (on another worker), which end the request, the attempts bound,
// the deadline and the client leaving.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errors, type RouterError } from '../../proto/errors.ts';
import type { Decision } from '../../scheduler/pd/decider.ts';
import type { RetryOptions } from '../../scheduler/retry.ts';
import { RetryBudget } from '../../scheduler/retry-budget.ts';
import { runAttempts, TriedWorkers, type AttemptContext, type DispatchOutcome, type StepResult } from '../../scheduler/retry-executor.ts';

const WORKERS = ['a', 'b', 'c'] as const;
const NO_WAIT: RetryOptions = { maxAttempts: 5, initialBackoffMs: 0, maxBackoffMs: 0, multiplier: 1 };

const answered = (worker: string, decision?: Decision): StepResult => ({ kind: 'answered', worker, status: 200, error: null, ...(decision ? { decision } : {}) });
const failed = (worker: string): StepResult => ({ kind: 'retry', error: errors.LLMR_ERR_UPSTREAM_UNREACHABLE(`${worker} is down`), reason: 'connection' });

interface Run {
  readonly outcome: DispatchOutcome;
  /** The worker each attempt called. */
  readonly called: string[];
  readonly mayRetry: boolean[];
  /** Reasons of the retry events. */
  readonly retries: string[];
  /** Reasons of the retries the budget refused. */
  readonly denied: string[];
  /** What the client was answered with, when no worker answered. */
  readonly clientError: RouterError | null;
}

interface Options {
  readonly retry?: RetryOptions;
  readonly deadline?: number | null;
  readonly random?: () => number;
  readonly controller?: AbortController;
  readonly budget?: RetryBudget;
}

/**
 * Runs the executor over a step that picks the first worker its pool has not tried (any worker
 * when all have been), as pickWorker does, and lets `behave` say how the call went.
 */
async function run(behave: (worker: string, ctx: AttemptContext, controller: AbortController) => StepResult, o: Options = {}): Promise<Run> {
  const controller = o.controller ?? new AbortController();
  const called: string[] = [];
  const mayRetry: boolean[] = [];
  const retries: string[] = [];
  const denied: string[] = [];
  let clientError: RouterError | null = null;
  const outcome = await runAttempts(
    {
      retry: o.retry ?? NO_WAIT,
      retryBudget: o.budget ?? null,
      random: o.random ?? (() => 0),
      events: { retry: (_model, reason) => retries.push(reason), retryDenied: (_model, reason) => denied.push(reason) },
    },
    { model: 'm', meta: { deadline: o.deadline ?? null }, signal: controller.signal },
    { error: (e) => (clientError = e) },
    async (ctx) => {
      const w = WORKERS.find((id) => !ctx.tried.of('whole').has(id)) ?? WORKERS[0];
      ctx.tried.add('whole', w);
      called.push(w);
      mayRetry.push(ctx.mayRetry);
      return behave(w, ctx, controller);
    },
  );
  return { outcome, called, mayRetry, retries, denied, clientError };
}

describe('retry executor - the retry budget', () => {
  test('retry budget - an error burst is retried at most the budget ratio of its requests', async () => {
    let now = 0;
    const budget = new RetryBudget({ ratio: 0.2, minRetries: 0, windowMs: 10_000 }, () => now);
    const runs: Run[] = [];
    // 20 requests against a fleet where every call fails: 5 attempts each without a budget (100 calls).
    for (let i = 0; i < 20; i++) {
      runs.push(await run((w) => failed(w), { budget }));
      now += 10;
    }
    const calls = runs.reduce((a, r) => a + r.called.length, 0);
    assert.equal(calls, 24, 'the 20 first attempts and 4 retries (20 % of 20)');
    // Every request ended on a refused retry: 16 after their first attempt, 4 after their one retry.
    assert.equal(
      runs.reduce((a, r) => a + r.denied.length, 0),
      20,
    );
    for (const r of runs) assert.equal(r.clientError?.code, 'LLMR_ERR_UPSTREAM_UNREACHABLE');
  });

  test("retry budget - with the budget spent an attempt is the last: a worker's retryable status becomes the answer", async () => {
    const budget = new RetryBudget({ ratio: 0, minRetries: 0, windowMs: 10_000 }, () => 0);
    const r = await run((w) => answered(w), { budget });
    assert.deepEqual(r.mayRetry, [false]);
    assert.equal(r.outcome.worker, 'a');
    assert.deepEqual(r.denied, [], 'a 200 needed no retry');
    const unavailable = await run((w) => ({ kind: 'answered', worker: w, status: 503, error: null }), { budget });
    assert.equal(unavailable.outcome.status, 503);
    assert.deepEqual(unavailable.denied, ['status_503'], 'a retryable status passed on for want of budget is counted');
  });

  test('retry budget - a quiet replica still retries up to minRetries per window, and the window rolls', async () => {
    let now = 0;
    const budget = new RetryBudget({ ratio: 0.2, minRetries: 2, windowMs: 1000 }, () => now);
    const first = await run((w, ctx) => (ctx.n < 3 ? failed(w) : answered(w)), { budget });
    assert.deepEqual(first.called, ['a', 'b', 'c'], 'two retries: the minimum');
    const second = await run((w) => (w === 'a' ? failed(w) : answered(w)), { budget });
    assert.deepEqual(second.called, ['a'], 'the minimum is spent in this window');
    assert.deepEqual(second.denied, ['connection']);
    now += 1000;
    const later = await run((w) => (w === 'a' ? failed(w) : answered(w)), { budget });
    assert.deepEqual(later.called, ['a', 'b'], 'a new window, a new budget');
    assert.deepEqual(budget.window, { requests: 1, retries: 1 });
  });
});

describe('retry executor', () => {
  const table: {
    name: string;
    behave: (worker: string, ctx: AttemptContext, c: AbortController) => StepResult;
    want: Partial<DispatchOutcome>;
    called: string[];
    retries: number;
    clientError: string | null;
  }[] = [
    {
      name: 'a retryable failure is retried on another worker',
      behave: (w) => (w === 'a' ? failed(w) : answered(w)),
      want: { worker: 'b', status: 200, attempts: 2, error: null },
      called: ['a', 'b'],
      retries: 1,
      clientError: null,
    },
    {
      name: 'each attempt tries a worker not tried yet, then any',
      behave: (w, ctx) => (ctx.n < 5 ? failed(w) : answered(w)),
      want: { worker: 'a', attempts: 5 },
      called: ['a', 'b', 'c', 'a', 'a'],
      retries: 4,
      clientError: null,
    },
    {
      name: 'a fatal result is not retried, and counts no attempt of its own',
      behave: () => ({ kind: 'fatal', error: errors.LLMR_ERR_NO_WORKER('m') }),
      want: { worker: null, status: 503, attempts: 0 },
      called: ['a'],
      retries: 0,
      clientError: 'LLMR_ERR_NO_WORKER',
    },
    {
      name: 'a fatal result after a failure ends the request with the attempts made',
      behave: (w) => (w === 'a' ? failed(w) : { kind: 'fatal', error: errors.LLMR_ERR_NO_WORKER('m') }),
      want: { worker: null, status: 503, attempts: 1 },
      called: ['a', 'b'],
      retries: 1,
      clientError: 'LLMR_ERR_NO_WORKER',
    },
    {
      name: 'when every attempt fails, the last error is the answer after maxAttempts',
      behave: (w) => failed(w),
      want: { worker: null, status: 502, attempts: 5 },
      called: ['a', 'b', 'c', 'a', 'a'],
      retries: 4,
      clientError: 'LLMR_ERR_UPSTREAM_UNREACHABLE',
    },
    {
      name: 'the client leaving during an attempt ends the request quietly',
      behave: (w) => ({ kind: 'aborted', worker: w }),
      want: { worker: 'a', status: null, attempts: 1, error: null },
      called: ['a'],
      retries: 0,
      clientError: null,
    },
    {
      name: 'the client leaving before the backoff is over ends the request quietly',
      behave: (w, _ctx, c) => {
        c.abort();
        return failed(w);
      },
      want: { worker: null, status: null, attempts: 1, error: null },
      called: ['a'],
      retries: 1,
      clientError: null,
    },
    {
      name: 'a decision travels to the outcome',
      behave: (w) => answered(w, 'short_prompt'),
      want: { worker: 'a', attempts: 1, decision: 'short_prompt' },
      called: ['a'],
      retries: 0,
      clientError: null,
    },
  ];
  for (const row of table) {
    test(`retry executor - ${row.name}`, async () => {
      const r = await run(row.behave);
      for (const [k, v] of Object.entries(row.want)) assert.deepEqual(r.outcome[k as keyof DispatchOutcome], v, k);
      assert.deepEqual(r.called, row.called);
      assert.equal(r.retries.length, row.retries);
      assert.equal(r.clientError?.code ?? null, row.clientError);
      if (row.clientError) assert.equal(r.outcome.error, r.clientError, 'the outcome carries the error the client got');
    });
  }

  test('retry executor - only the last attempt may not be retried, and it is not counted as a retry', async () => {
    const r = await run(failed, { retry: { ...NO_WAIT, maxAttempts: 3 } });
    assert.deepEqual(r.mayRetry, [true, true, false]);
    assert.deepEqual(r.retries, ['connection', 'connection']);
    assert.equal(r.outcome.attempts, 3);
    assert.equal(r.clientError?.message, errors.LLMR_ERR_UPSTREAM_UNREACHABLE('c is down').message, 'the last failure');
  });

  test('retry executor - one attempt allowed: no retry, no backoff', async () => {
    const r = await run(failed, { retry: { ...NO_WAIT, maxAttempts: 1 } });
    assert.deepEqual(r.called, ['a']);
    assert.deepEqual(r.mayRetry, [false]);
    assert.deepEqual(r.retries, []);
    assert.equal(r.outcome.attempts, 1);
  });

  test('retry executor - a backoff that would pass the deadline ends the request with LLMR_ERR_DEADLINE', async () => {
    const r = await run(failed, { retry: { ...NO_WAIT, initialBackoffMs: 60_000, maxBackoffMs: 60_000 }, random: () => 0.5, deadline: Date.now() + 10_000 });
    assert.deepEqual(r.called, ['a'], 'no second attempt');
    assert.equal(r.clientError?.code, 'LLMR_ERR_DEADLINE');
    assert.equal(r.outcome.attempts, 1);
  });

  test('retry executor - a request aborted before its first attempt calls no worker', async () => {
    const controller = new AbortController();
    controller.abort();
    const r = await run((w) => answered(w), { controller });
    assert.deepEqual(r.called, []);
    assert.deepEqual(r.outcome, { worker: null, status: null, attempts: 0, error: null });
    assert.equal(r.clientError, null);
  });
});

describe('tried workers', () => {
  test('tried workers - each pool remembers its own', () => {
    const t = new TriedWorkers();
    assert.equal(t.of('decode').size, 0);
    t.add('decode', 'w1');
    t.add('prefill', 'w2');
    t.add('decode', 'w1');
    assert.deepEqual([...t.of('decode')], ['w1']);
    assert.deepEqual([...t.of('prefill')], ['w2']);
    assert.equal(t.of('whole').size, 0);
  });
});
