// The 1-minute chaos run (bench/chaos/run.ts) as part of the test suite: under load, with
// workers crashing, hanging, starting slowly, dying mid-stream and bursting errors, and a
// scheduler and the bus restarted, nothing may hang (no first byte or a silence beyond 10 s) and
// nothing may be lost; 99 % are served apart from streams cut mid-answer; no sequence is left in
// the workers; memory stays within its bound.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const RUN = fileURLToPath(new URL('../../bench/chaos/run.ts', import.meta.url));

interface ChaosResult {
  sent: number;
  succeeded: number;
  failedWithClearError: number;
  hung: number;
  lost: number;
  faults: Record<string, number>;
  restarted: Record<string, number>;
  memoryMb: Record<string, { growth: number }>;
  examples: Record<string, string[]>;
  failures: Record<string, number>;
  midStream: number;
  successRate: number;
  leftRunning: number;
  overGrown: string[];
  pass: boolean;
}

test('chaos - one minute of faults: nothing hangs, nothing is lost', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'llmr-chaos-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const json = join(dir, 'chaos.json');
  const out: string[] = [];
  const code = await new Promise<number>((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', RUN, '--minutes', '1', '--concurrency', '12', '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.on('data', (d: Buffer) => out.push(d.toString()));
    p.stderr.on('data', (d: Buffer) => out.push(d.toString()));
    p.on('exit', (c) => resolve(c ?? 1));
  });
  const r = JSON.parse(await readFile(json, 'utf8')) as ChaosResult;
  const tail = out
    .join('')
    .split('\n')
    .filter((l) => !l.startsWith('{"level"'))
    .slice(-40)
    .join('\n');
  assert.equal(r.hung, 0, `hung requests:\n${tail}`);
  assert.equal(r.lost, 0, `lost requests: ${JSON.stringify(r.examples)}\n${tail}`);
  assert.ok(r.successRate >= 0.99, `only ${(r.successRate * 100).toFixed(2)} % served apart from mid-stream cuts; failures: ${JSON.stringify(r.failures)}`);
  assert.equal(r.leftRunning, 0, 'sequences left running in the workers');
  assert.deepEqual(r.overGrown, [], 'memory within its bound');
  assert.ok(r.pass);
  assert.equal(code, 0);
  assert.ok(r.sent > 500, `only ${r.sent} requests were sent`);
  for (const f of ['crash', 'hang', 'slow_start', 'die_mid_stream', 'error_burst', 'restart_scheduler', 'restart_bus']) assert.ok((r.faults[f] ?? 0) >= 1, `fault ${f} was injected`);
  assert.equal(r.restarted['nats-server'], 1);
});
