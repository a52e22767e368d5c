import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseVllmMetrics } from '../../adapters/vllm-metrics.ts';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

const LLAMA = 'meta-llama/Llama-3.1-8B-Instruct';

describe('vllm-metrics', () => {
  test('vllm-metrics - a current vLLM /metrics page with two engines is summed', () => {
    assert.deepEqual(parseVllmMetrics(fixture('vllm-metrics.txt')), {
      running: 12,
      waiting: 3,
      kvUsage: 0.4,
      blockSize: 16,
      numBlocks: 27104 + 27096,
      models: [LLAMA],
    });
  });

  test('vllm-metrics - an old vLLM page (gpu_cache_usage_perc, no engine label) is read', () => {
    assert.deepEqual(parseVllmMetrics(fixture('vllm-metrics-old.txt')), {
      running: 4,
      waiting: 9,
      kvUsage: 0.8125,
      blockSize: 32,
      numBlocks: 7282,
      models: ['Qwen/Qwen2.5-7B-Instruct'],
    });
  });

  test('vllm-metrics - CRLF line endings read the same', () => {
    const text = fixture('vllm-metrics.txt');
    assert.deepEqual(parseVllmMetrics(text.replace(/\n/g, '\r\n')), parseVllmMetrics(text));
  });

  test('vllm-metrics - an empty page gives an idle worker of unknown shape', () => {
    assert.deepEqual(parseVllmMetrics(''), { running: 0, waiting: 0, kvUsage: 0, blockSize: null, numBlocks: null, models: [] });
  });

  const KV: [string, string, number][] = [
    ['the current name', 'vllm:kv_cache_usage_perc{engine="0"} 0.25', 0.25],
    ['the deprecated name', 'vllm:gpu_cache_usage_perc 0.75', 0.75],
    ['the current name over the deprecated one', 'vllm:gpu_cache_usage_perc{engine="0"} 0.9\nvllm:kv_cache_usage_perc{engine="0"} 0.1', 0.1],
    ['the mean over engines (deprecated name)', 'vllm:gpu_cache_usage_perc{engine="0"} 0.2\nvllm:gpu_cache_usage_perc{engine="1"} 0.6', 0.4],
    ['clamped above 1', 'vllm:kv_cache_usage_perc 1.7', 1],
    ['clamped below 0', 'vllm:kv_cache_usage_perc -0.2', 0],
    ['not confused with CPU cache usage', 'vllm:cpu_cache_usage_perc 0.9', 0],
  ];
  for (const [what, text, want] of KV) {
    test(`vllm-metrics - KV usage: ${what}`, () => {
      assert.equal(parseVllmMetrics(text).kvUsage, want);
    });
  }

  test('vllm-metrics - counts are rounded and never negative', () => {
    const l = parseVllmMetrics('vllm:num_requests_running 2.6\nvllm:num_requests_waiting -3');
    assert.equal(l.running, 3);
    assert.equal(l.waiting, 0);
  });

  test('vllm-metrics - a sample timestamp and exponent notation are read', () => {
    const l = parseVllmMetrics('vllm:num_requests_running{engine="0"} 3 1700000000000\nvllm:num_requests_waiting 1.2e+01');
    assert.equal(l.running, 3);
    assert.equal(l.waiting, 12);
  });

  test('vllm-metrics - garbage lines are ignored', () => {
    const text = [
      'garbage',
      '{}',
      '   vllm:num_requests_running 100',
      'vllm:num_requests_running',
      'vllm:num_requests_running NaN',
      'vllm:num_requests_running +Inf',
      'vllm:num_requests_running abc',
      'vllm:num_requests_running{engine="0" 50',
      'num_requests_running 40',
      'other:num_requests_running 30',
      'vllm:num_requests_running_total 20',
      '#vllm:num_requests_running 10',
      '\u0000\u0001\u0002',
      'vllm:num_requests_running{engine="0",model_name="m"} 2',
      'vllm:cache_config_info{block_size="abc",num_gpu_blocks="-1"} 1',
      'vllm:cache_config_info{block_size="0",num_gpu_blocks="1.5"} 1',
    ].join('\n');
    assert.deepEqual(parseVllmMetrics(text), { running: 2, waiting: 0, kvUsage: 0, blockSize: null, numBlocks: null, models: ['m'] });
  });

  test('vllm-metrics - labels are optional and in any order', () => {
    const a = parseVllmMetrics('vllm:num_requests_waiting 4');
    const b = parseVllmMetrics('vllm:num_requests_waiting{model_name="m",engine="0"} 4');
    const c = parseVllmMetrics('vllm:num_requests_waiting{engine="0",model_name="m",} 4');
    assert.equal(a.waiting, 4);
    assert.equal(b.waiting, 4);
    assert.equal(c.waiting, 4);
    assert.deepEqual(b.models, ['m']);
  });

  test('vllm-metrics - label values with escapes, braces and spaces are read', () => {
    const text = ['vllm:num_requests_running{engine="0",model_name="org/we\\"ird} name\\\\x"} 3', 'vllm:num_requests_waiting{model_name="line\\nbreak",engine="0"} 1'].join('\n');
    const l = parseVllmMetrics(text);
    assert.equal(l.running, 3);
    assert.equal(l.waiting, 1);
    assert.deepEqual(l.models, ['org/we"ird} name\\x', 'line\nbreak']);
  });

  test('vllm-metrics - every served model name is listed once', () => {
    const l = parseVllmMetrics(['vllm:num_requests_running{model_name="a"} 1', 'vllm:num_requests_running{model_name="b"} 1', 'vllm:num_requests_waiting{model_name="a"} 0'].join('\n'));
    assert.deepEqual(l.models, ['a', 'b']);
    assert.equal(l.running, 2);
  });
});
