import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { schedulerCommand, schedulerOptionsFromFlags, type SchedulerFlags } from '../../cli/scheduler.ts';
import { parseAllowList } from '../../runtime/address-allow.ts';
import { SCHEDULER_DEFAULTS, validateSchedulerOptions, type SchedulerOptions } from '../../scheduler/options.ts';

const GOOD: SchedulerOptions = { id: 'sched-1', ...SCHEDULER_DEFAULTS };

/** The flags commander gives the action for `args`, without running it. */
async function flags(args: string[]): Promise<SchedulerFlags> {
  let got: SchedulerFlags | undefined;
  const cmd = schedulerCommand().action((f: SchedulerFlags) => {
    got = f;
  });
  await cmd.parseAsync(args, { from: 'user' });
  return got!;
}

describe('scheduler-options', () => {
  test('scheduler-options - the defaults are valid and frozen all the way down', () => {
    const o = validateSchedulerOptions(GOOD);
    assert.deepEqual(o, GOOD);
    assert.ok(Object.isFrozen(o) && Object.isFrozen(o.upstream) && Object.isFrozen(o.pd.decider));
    for (const v of [
      SCHEDULER_DEFAULTS,
      SCHEDULER_DEFAULTS.upstream,
      SCHEDULER_DEFAULTS.retry,
      SCHEDULER_DEFAULTS.pd,
      SCHEDULER_DEFAULTS.pd.decider,
      SCHEDULER_DEFAULTS.breaker,
      SCHEDULER_DEFAULTS.heartbeat,
    ])
      assert.ok(Object.isFrozen(v));
  });

  test('scheduler-options - boundary values and the optional fields are accepted', () => {
    const o = validateSchedulerOptions({
      ...GOOD,
      id: 'x'.repeat(128),
      region: 'A_b-9',
      prefillPolicy: 'least_load',
      decodePolicy: 'consistent_hash',
      modelPolicies: { 'meta-llama/Llama-3.1-8B-Instruct': 'round_robin' },
      upstream: { ...GOOD.upstream, workerApiKey: 'k', discardLimitBytes: 0 },
      retry: { ...GOOD.retry, maxAttempts: 1, initialBackoffMs: 0, maxBackoffMs: 0 },
      breaker: null,
      retryBudget: null,
      pd: { ...GOOD.pd, decider: { ...GOOD.pd.decider, localMarginTokens: null } },
      heartbeat: { maxClockSkewMs: 0, maxIntervalMs: 10, workerAllow: parseAllowList('10.0.0.0/8') },
      retryAfterS: 0,
      startupGraceMs: 0,
      shutdownGraceMs: 0,
    });
    assert.equal(o.breaker, null);
    assert.deepEqual(o.modelPolicies, { 'meta-llama/Llama-3.1-8B-Instruct': 'round_robin' });
  });

  const BAD: [string, Record<string, unknown>, RegExp][] = [
    ['an empty id', { id: '' }, /^id ""/],
    ['an id with a dot', { id: 'a.b' }, /^id "a\.b"/],
    ['an id too long', { id: 'x'.repeat(129) }, /^id /],
    ['a region with a space', { region: 'eu west' }, /^region "eu west"/],
    ['an unknown policy', { policy: 'fastest' }, /^policy "fastest": one of /],
    ['an unknown prefill policy', { prefillPolicy: 'x' }, /^prefillPolicy "x"/],
    ['an unknown decode policy', { decodePolicy: 'x' }, /^decodePolicy "x"/],
    ['an unknown policy for a model', { modelPolicies: { m: 'x' } }, /^modelPolicies\["m"\] "x"/],
    ['a zero connect timeout', { upstream: { ...GOOD.upstream, connectTimeoutMs: 0 } }, /^upstream\.connectTimeoutMs 0/],
    ['a fractional headers timeout', { upstream: { ...GOOD.upstream, headersTimeoutMs: 1.5 } }, /^upstream\.headersTimeoutMs 1\.5/],
    ['a NaN body timeout', { upstream: { ...GOOD.upstream, bodyTimeoutMs: Number.NaN } }, /^upstream\.bodyTimeoutMs NaN/],
    ['a zero keep-alive', { upstream: { ...GOOD.upstream, keepAliveTimeoutMs: 0 } }, /^upstream\.keepAliveTimeoutMs/],
    ['a zero keep-alive ceiling', { upstream: { ...GOOD.upstream, keepAliveMaxTimeoutMs: 0 } }, /^upstream\.keepAliveMaxTimeoutMs/],
    ['a zero buffer limit', { upstream: { ...GOOD.upstream, maxBufferedBytes: 0 } }, /^upstream\.maxBufferedBytes/],
    ['a negative discard limit', { upstream: { ...GOOD.upstream, discardLimitBytes: -1 } }, /^upstream\.discardLimitBytes -1/],
    ['an empty worker API key', { upstream: { ...GOOD.upstream, workerApiKey: '' } }, /^upstream\.workerApiKey/],
    ['a worker API key with a line break', { upstream: { ...GOOD.upstream, workerApiKey: 'k\r\nX-Evil: 1' } }, /^upstream\.workerApiKey/],
    ['no upstream', { upstream: undefined }, /^upstream: missing/],
    ['zero attempts', { retry: { ...GOOD.retry, maxAttempts: 0 } }, /^retry\.maxAttempts 0/],
    ['too many attempts', { retry: { ...GOOD.retry, maxAttempts: 101 } }, /^retry\.maxAttempts 101/],
    ['a negative backoff', { retry: { ...GOOD.retry, initialBackoffMs: -1 } }, /^retry\.initialBackoffMs/],
    ['a negative largest backoff', { retry: { ...GOOD.retry, maxBackoffMs: -1 } }, /^retry\.maxBackoffMs/],
    ['a zero multiplier', { retry: { ...GOOD.retry, multiplier: 0 } }, /^retry\.multiplier 0/],
    ['an infinite multiplier', { retry: { ...GOOD.retry, multiplier: Number.POSITIVE_INFINITY } }, /^retry\.multiplier/],
    ['zero missed beats', { missedBeats: 0 }, /^missedBeats 0/],
    ['a zero sync interval', { syncIntervalMs: 0 }, /^syncIntervalMs 0/],
    ['a zero full sync interval', { syncFullIntervalMs: 0 }, /^syncFullIntervalMs 0/],
    ['a fractional Retry-After', { retryAfterS: 0.5 }, /^retryAfterS 0\.5/],
    ['a negative retry budget', { retryBudget: { ratio: -0.1, minRetries: 0, windowMs: 1000 } }, /^retryBudget\.ratio -0\.1/],
    ['a fractional retry minimum', { retryBudget: { ratio: 0.2, minRetries: 1.5, windowMs: 1000 } }, /^retryBudget\.minRetries 1\.5/],
    ['a retry window too short', { retryBudget: { ratio: 0.2, minRetries: 1, windowMs: 5 } }, /^retryBudget\.windowMs 5/],
    ['a negative P/D threshold', { pd: { ...GOOD.pd, decider: { ...GOOD.pd.decider, thresholdTokens: -1 } } }, /^pd\.decider\.thresholdTokens/],
    ['a zero P/D queue bound', { pd: { ...GOOD.pd, decider: { ...GOOD.pd.decider, prefillMaxWaiting: 0 } } }, /^pd\.decider\.prefillMaxWaiting/],
    ['a zero P/D KV bound', { pd: { ...GOOD.pd, decider: { ...GOOD.pd.decider, prefillMaxKvUsage: 0 } } }, /^pd\.decider\.prefillMaxKvUsage/],
    ['a negative P/D margin', { pd: { ...GOOD.pd, decider: { ...GOOD.pd.decider, localMarginTokens: -1 } } }, /^pd\.decider\.localMarginTokens/],
    ['an unknown prefill-failure mode', { pd: { ...GOOD.pd, onPrefillFailure: 'give_up' } }, /^pd\.onPrefillFailure "give_up"/],
    ['a strict flag that is not a boolean', { pd: { ...GOOD.pd, strict: 'yes' } }, /^pd\.strict/],
    ['a zero KV lease', { pd: { ...GOOD.pd, kvLeaseMs: 0 } }, /^pd\.kvLeaseMs/],
    ['a zero breaker threshold', { breaker: { ...SCHEDULER_DEFAULTS.breaker, failureThreshold: 0 } }, /^breaker\.failureThreshold/],
    ['a zero breaker success threshold', { breaker: { ...SCHEDULER_DEFAULTS.breaker, successThreshold: 0 } }, /^breaker\.successThreshold/],
    ['a negative breaker cooldown', { breaker: { ...SCHEDULER_DEFAULTS.breaker, cooldownMs: -1 } }, /^breaker\.cooldownMs/],
    ['a negative startup grace', { startupGraceMs: -1 }, /^startupGraceMs/],
    ['a negative clock skew', { heartbeat: { ...GOOD.heartbeat, maxClockSkewMs: -1 } }, /^heartbeat\.maxClockSkewMs/],
    ['a heartbeat interval bound too short', { heartbeat: { ...GOOD.heartbeat, maxIntervalMs: 9 } }, /^heartbeat\.maxIntervalMs 9/],
    ['a worker allow-list that is a string', { heartbeat: { ...GOOD.heartbeat, workerAllow: '10.0.0.0/8' } }, /^heartbeat\.workerAllow/],
    ['a zero probe interval', { probeIntervalMs: 0 }, /^probeIntervalMs 0/],
    ['a zero expiry interval', { expiryIntervalMs: 0 }, /^expiryIntervalMs 0/],
    ['a negative shutdown grace', { shutdownGraceMs: -1 }, /^shutdownGraceMs/],
  ];
  for (const [what, patch, msg] of BAD) {
    test(`scheduler-options - ${what} is rejected with a RangeError naming it`, () => {
      assert.throws(
        () => validateSchedulerOptions({ ...GOOD, ...patch } as SchedulerOptions),
        (e: unknown) => e instanceof RangeError && e.message.startsWith('invalid scheduler option ') && msg.test(e.message.slice('invalid scheduler option '.length)),
      );
    });
  }

  test('scheduler-options - the CLI without flags runs on the defaults', async () => {
    const o = validateSchedulerOptions(schedulerOptionsFromFlags(await flags([]), 'sched-1', null));
    assert.deepEqual({ ...o, prefillPolicy: undefined, decodePolicy: undefined, modelPolicies: undefined }, { ...GOOD, prefillPolicy: undefined, decodePolicy: undefined, modelPolicies: undefined });
    assert.deepEqual(o.modelPolicies, {});
  });

  test("scheduler-options - the CLI's flags land in their fields", async () => {
    const f = await flags([
      '--region',
      'eu',
      '--policy',
      'least_load',
      '--model-policy',
      'm=llmd',
      '--retry-max-attempts',
      '2',
      '--connect-timeout-ms',
      '700',
      '--upstream-headers-timeout-ms',
      '800',
      '--upstream-body-timeout-ms',
      '900',
      '--missed-beats',
      '4',
      '--pd-local-margin-tokens',
      '-1',
      '--pd-strict',
      '--no-circuit-breaker',
      '--shutdown-grace-ms',
      '5',
      '--worker-allow',
      '10.0.0.0/8',
      '--retry-budget-ratio',
      '0.5',
      '--retry-budget-min',
      '3',
      '--retry-budget-window-ms',
      '2000',
    ]);
    const o = validateSchedulerOptions(schedulerOptionsFromFlags(f, 'sched-1', 'key'));
    assert.equal(o.region, 'eu');
    assert.equal(o.policy, 'least_load');
    assert.deepEqual(o.modelPolicies, { m: 'llmd' });
    assert.equal(o.retry.maxAttempts, 2);
    assert.deepEqual(o.upstream, { ...SCHEDULER_DEFAULTS.upstream, connectTimeoutMs: 700, headersTimeoutMs: 800, bodyTimeoutMs: 900, workerApiKey: 'key' });
    assert.equal(o.missedBeats, 4);
    assert.equal(o.pd.decider.localMarginTokens, null);
    assert.equal(o.pd.strict, true);
    assert.equal(o.breaker, null);
    assert.equal(o.shutdownGraceMs, 5);
    assert.ok(o.heartbeat.workerAllow?.allowsAddress('http://10.1.2.3:8000'));
    assert.deepEqual(o.retryBudget, { ratio: 0.5, minRetries: 3, windowMs: 2000 });
    assert.equal(validateSchedulerOptions(schedulerOptionsFromFlags(await flags(['--no-retry-budget']), 'sched-1', null)).retryBudget, null);
  });
});
