// bench/loadgen command line: vLLM-style flags map onto the run spec; bad flags are usage errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCli, UsageError } from '../../bench/loadgen/cli.ts';

const BASE = ['--base-url', 'http://127.0.0.1:8000'];

test('cli - random flags, rate and burstiness map onto the run spec', () => {
  const o = parseCli([
    ...BASE,
    '--model',
    'm',
    '--random-input-len',
    '100',
    '--random-range-ratio',
    '0.2',
    '--endpoint',
    'chat',
    '--request-rate',
    '5',
    '--burstiness',
    '0.5',
    '--num-prompts',
    '10',
    '--seed',
    '3',
  ])!;
  assert.deepEqual(o.run.workload, { kind: 'random', route: 'chat', inputLen: 100, rangeRatio: 0.2 });
  assert.equal(o.run.requestRate, 5);
  assert.equal(o.run.burstiness, 0.5);
  assert.equal(o.run.numPrompts, 10);
  assert.equal(o.run.seed, 3);
  assert.equal(o.resultDir, null);
});

test('cli - multi_turn and shared_prefix flags, inf rate, concurrency, metadata', () => {
  const mt = parseCli([
    ...BASE,
    '--workload',
    'multi_turn',
    '--mt-sessions',
    '4',
    '--mt-turns',
    '3',
    '--mt-shared-system',
    '--max-concurrency',
    '4',
    '--request-rate',
    'inf',
    '--duration-s',
    '5',
    '--metadata',
    'system=rr',
    '--result-dir',
    '/tmp/x',
  ])!;
  assert.deepEqual(mt.run.workload, { kind: 'multi_turn', sessions: 4, turns: 3, sharedSystemPrompt: true });
  assert.equal(mt.run.requestRate, Number.POSITIVE_INFINITY);
  assert.equal(mt.run.maxConcurrency, 4);
  assert.equal(mt.run.durationS, 5);
  assert.deepEqual(mt.metadata, { system: 'rr' });
  assert.equal(mt.resultDir, '/tmp/x');
  const sp = parseCli([...BASE, '--workload', 'shared_prefix', '--prefix-repetition-num-prefixes', '3', '--prefix-repetition-prefix-len', '512'])!;
  assert.deepEqual(sp.run.workload, { kind: 'shared_prefix', numPrefixes: 3, prefixLen: 512 });
  assert.equal(parseCli(['--help']), null);
});

test('cli - bad or misplaced flags are usage errors naming the flag', () => {
  const bad: [string[], RegExp][] = [
    [[], /--base-url is required/],
    [[...BASE, '--workload', 'sharegpt'], /--workload/],
    [[...BASE, '--request-rate', 'fast'], /--request-rate/],
    [[...BASE, '--request-rate', '0'], /requestRate/],
    [[...BASE, '--mt-turns', '3'], /--mt-turns does not apply/],
    [[...BASE, '--workload', 'multi_turn', '--endpoint', 'chat'], /--endpoint/],
    [[...BASE, '--random-input-len', '0'], /inputLen/],
    [[...BASE, '--metadata', 'novalue'], /--metadata/],
    [[...BASE, '--endpoint', 'chat', '--random-input-len', '5'], /cannot fit/],
    [['--base-url', 'http://h:1/v1'], /origin/],
    [[...BASE, '--bogus'], /bogus/],
  ];
  for (const [argv, re] of bad)
    assert.throws(
      () => parseCli(argv),
      (e: unknown) => e instanceof UsageError && re.test(e.message),
      argv.join(' '),
    );
});
