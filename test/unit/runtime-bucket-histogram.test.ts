import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Histogram, Registry, type RegistryContentType } from 'prom-client';
import { BucketHistogram } from '../../runtime/bucket-histogram.ts';

const BUCKETS = [0.005, 0.01, 0.025, 0.1, 1, 2.5];

/** The same histogram twice, prom-client's and ours, each in a registry with a default label. */
type AnyRegistry = Registry<RegistryContentType>;

function pair(labelNames: string[], openMetrics = false): { theirs: Histogram; ours: BucketHistogram; registries: [AnyRegistry, AnyRegistry] } {
  const registries: [AnyRegistry, AnyRegistry] = [new Registry<RegistryContentType>(), new Registry<RegistryContentType>()];
  for (const r of registries) {
    if (openMetrics) r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    r.setDefaultLabels({ ingress: 'i-1' });
  }
  const config = { name: 'llm_router_test_seconds', help: 'A test histogram, with a "quote" and a \\ backslash.', labelNames, buckets: BUCKETS };
  const theirs = new Histogram({ ...config, registers: [registries[0]] });
  const ours = new BucketHistogram({ ...config, registers: [registries[1]] });
  return { theirs, ours, registries };
}

async function same(registries: [AnyRegistry, AnyRegistry]): Promise<string> {
  const [theirs, ours] = await Promise.all(registries.map((r) => r.metrics()));
  assert.equal(ours, theirs);
  assert.deepEqual(await registries[1].getMetricsAsJSON(), await registries[0].getMetricsAsJSON());
  return ours as string;
}

describe('runtime-bucket-histogram', () => {
  test('runtime-bucket-histogram - renders what prom-client renders for the same observations, byte for byte', async () => {
    const { theirs, ours, registries } = pair(['route', 'model']);
    // On the bounds, between them, below the first, above the last, zero and negative; series
    // first seen in an order that is not sorted; label values that need escaping.
    const seen: [string, string, number][] = [
      ['/v1/chat/completions', 'llama', 0.005],
      ['/v1/completions', 'a"b\\c\nd', 0.0051],
      ['/v1/chat/completions', 'llama', 2.5],
      ['/v1/chat/completions', 'llama', 2.5000001],
      ['/v1/chat/completions', 'alpha', 0],
      ['/v1/chat/completions', 'alpha', -1],
      ['/v1/chat/completions', 'llama', 0.1],
      ['/v1/completions', 'a"b\\c\nd', 1e9],
      ['/v1/chat/completions', 'llama', 0.30000000000000004],
    ];
    for (const [route, model, v] of seen) {
      theirs.observe({ route, model }, v);
      ours.series(route, model).observe(v);
    }
    const text = await same(registries);
    assert.match(text, /^llm_router_test_seconds_bucket\{le="0.005",ingress="i-1",route="\/v1\/chat\/completions",model="llama"\} 1$/m);
    assert.match(text, /^llm_router_test_seconds_bucket\{le="\+Inf",ingress="i-1",route="\/v1\/completions",model="a\\"b\\\\c\\nd"\} 2$/m);
  });

  test('runtime-bucket-histogram - a histogram without observations, or without labels, renders as prom-client does', async () => {
    const empty = pair(['model']);
    await same(empty.registries);
    const bare = pair([]);
    await same(bare.registries);
    for (const v of [0.02, 3, 0.01]) {
      bare.theirs.observe(v);
      bare.ours.series().observe(v);
    }
    const text = await same(bare.registries);
    assert.match(text, /^llm_router_test_seconds_count\{ingress="i-1"\} 3$/m);
  });

  test('runtime-bucket-histogram - OpenMetrics too', async () => {
    const { theirs, ours, registries } = pair(['leg'], true);
    theirs.observe({ leg: 'prefill' }, 0.2);
    ours.series('prefill').observe(0.2);
    await same(registries);
  });

  test('runtime-bucket-histogram - a value that is not a finite number is dropped (prom-client throws on it)', async () => {
    const { theirs, ours, registries } = pair(['model']);
    const s = ours.series('m');
    for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      assert.throws(() => theirs.observe({ model: 'm' }, v), TypeError);
      s.observe(v);
    }
    theirs.observe({ model: 'm' }, 0.5);
    s.observe(0.5);
    assert.equal(s.count, 1);
    assert.equal(s.sum, 0.5);
    await same(registries);
  });

  test('runtime-bucket-histogram - one series per set of values, the same object each time', () => {
    const { ours } = pair(['route', 'model']);
    const a = ours.series('r', 'm');
    assert.equal(ours.series('r', 'm'), a);
    assert.notEqual(ours.series('r', 'n'), a);
    assert.notEqual(ours.series('m', 'r'), a);
    a.observe(0.01);
    a.observe(0.011);
    assert.deepEqual([...a.counts], [0, 1, 1, 0, 0, 0]);
    assert.throws(() => ours.series('r'), /no value for label model/);
  });

  test('runtime-bucket-histogram - reset forgets every series', async () => {
    const { theirs, ours, registries } = pair(['model']);
    theirs.observe({ model: 'm' }, 1);
    ours.series('m').observe(1);
    theirs.reset();
    ours.reset();
    await same(registries);
    theirs.observe({ model: 'n' }, 1);
    ours.series('n').observe(1);
    await same(registries);
    const bare = pair([]);
    bare.theirs.reset();
    bare.ours.reset();
    await same(bare.registries);
    bare.theirs.observe(1);
    bare.ours.series().observe(1);
    await same(bare.registries);
  });

  test('runtime-bucket-histogram - refuses what prom-client refuses, and more than three labels', () => {
    const base = { name: 'x_seconds', help: 'x', buckets: [1, 2], registers: [] };
    assert.throws(() => new BucketHistogram({ ...base, labelNames: ['le'] }), /reserved/);
    assert.throws(() => new BucketHistogram({ ...base, labelNames: ['a', 'b', 'c', 'd'] }), /at most 3 labels/);
    assert.throws(() => new BucketHistogram({ ...base, labelNames: [], buckets: [2, 1] }), /ascend/);
    const r = new Registry();
    new BucketHistogram({ ...base, labelNames: [], registers: [r] });
    assert.throws(() => new BucketHistogram({ ...base, labelNames: [], registers: [r] }), /already been registered/);
  });
});
