import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { workerIdOf } from '../../adapters/agent.ts';
import { isSubjectId } from '../../proto/subjects.ts';

describe('agent', () => {
  const IDS: [string, string][] = [
    ['http://10.0.0.5:8000', '10-0-0-5-8000'],
    ['http://10.0.0.5:8000/', '10-0-0-5-8000'],
    ['http://localhost:8100/v1', 'localhost-8100'],
    ['http://vllm-0.vllm.default.svc.cluster.local:8000', 'vllm-0-vllm-default-svc-cluster-local-cffad3b1-8000'],
    ['http://worker_a:9000', 'worker-a-d11cd584-9000'],
    ['http://example.com', 'example-com-80'],
    ['https://example.com', 'example-com-443'],
    ['https://example.com:8443', 'example-com-8443'],
    ['http://[::1]:8000', '1-0582e95e-8000'],
    ['http://[fe80::1]:8000', 'fe80-1-4e1d62fa-8000'],
    ['http://user:pw@host:1234', 'host-1234'],
  ];
  for (const [url, want] of IDS) {
    test(`agent - workerIdOf(${url}) is ${want}`, () => {
      assert.equal(workerIdOf(url), want);
    });
  }

  test('agent - worker ids are always valid subject tokens', () => {
    for (const [url] of IDS) assert.ok(isSubjectId(workerIdOf(url)), url);
    const long = `http://${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.example:8000`;
    const id = workerIdOf(long);
    assert.ok(id.length <= 128);
    assert.ok(isSubjectId(id));
  });

  test('agent - different ports of one host get different ids', () => {
    assert.notEqual(workerIdOf('http://h:8000'), workerIdOf('http://h:8001'));
  });

  test('agent - long host names keep the port in the id', () => {
    const host = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.example`;
    assert.notEqual(workerIdOf(`http://${host}:8000`), workerIdOf(`http://${host}:8001`));
  });

  test('agent - hosts that differ only in punctuation get different ids', () => {
    assert.notEqual(workerIdOf('http://a-b.c:8000'), workerIdOf('http://a.b-c:8000'));
    assert.notEqual(workerIdOf('http://[::1]:8000'), workerIdOf('http://[::2]:8000'));
  });

  test('agent - a malformed URL throws', () => {
    assert.throws(() => workerIdOf('not a url'), TypeError);
  });
});
