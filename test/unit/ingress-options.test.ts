import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { INGRESS_DEFAULTS, validateIngressOptions, type IngressOptions } from '../../ingress/options.ts';

const GOOD: IngressOptions = { id: 'ing-1', ...INGRESS_DEFAULTS };

describe('ingress-options', () => {
  test('ingress-options - defaults validate and the result is a frozen copy', () => {
    const o = validateIngressOptions(GOOD);
    assert.deepEqual(o, GOOD);
    assert.notEqual(o, GOOD);
    assert.ok(Object.isFrozen(o));
    assert.ok(Object.isFrozen(INGRESS_DEFAULTS));
  });

  test('ingress-options - port 0, a null body limit and the limits of ids are accepted', () => {
    assert.equal(validateIngressOptions({ ...GOOD, port: 0 }).port, 0);
    assert.equal(validateIngressOptions({ ...GOOD, port: 65535 }).port, 65535);
    assert.equal(validateIngressOptions({ ...GOOD, bodyLimit: null }).bodyLimit, null);
    assert.ok(validateIngressOptions({ ...GOOD, id: 'x'.repeat(128), region: 'A_b-9' }));
  });

  const BAD: [string, Partial<Record<keyof IngressOptions, unknown>>, RegExp][] = [
    ['an empty id', { id: '' }, /id ""/],
    ['an id with a dot', { id: 'a.b' }, /id "a\.b"/],
    ['an id with a wildcard', { id: 'a*' }, /id/],
    ['an id too long', { id: 'x'.repeat(129) }, /id/],
    ['a region with a space', { region: 'eu west' }, /region/],
    ['a negative port', { port: -1 }, /port -1/],
    ['a port too large', { port: 65536 }, /port 65536/],
    ['a fractional port', { port: 80.5 }, /port/],
    ['a zero body limit', { bodyLimit: 0 }, /bodyLimit/],
    ['a fractional body limit', { bodyLimit: 1.5 }, /bodyLimit/],
    ['a zero accept timeout', { acceptTimeoutMs: 0 }, /acceptTimeoutMs/],
    ['a negative idle timeout', { idleTimeoutMs: -5 }, /idleTimeoutMs/],
    ['an infinite request timeout', { requestTimeoutMs: Number.POSITIVE_INFINITY }, /requestTimeoutMs/],
    ['a NaN buffer limit', { maxBufferedBytes: Number.NaN }, /maxBufferedBytes/],
    ['a zero client timeout', { clientTimeoutMs: 0 }, /clientTimeoutMs/],
    ['a zero probe interval', { probeIntervalMs: 0 }, /probeIntervalMs/],
    ['an unknown worker header mode', { workerHeader: 'host' }, /workerHeader "host": one of opaque, id, none/],
    ['an empty worker header key', { workerHeaderKey: '' }, /workerHeaderKey/],
    ['a negative metrics port', { metricsPort: -1 }, /metricsPort -1/],
    ['a certificate without its key', { tlsCertFile: '/c.pem' }, /give both the certificate and its key/],
    ['a key without its certificate', { tlsKeyFile: '/k.pem' }, /give both the certificate and its key/],
  ];
  for (const [what, patch, msg] of BAD) {
    test(`ingress-options - ${what} is rejected with a RangeError naming it`, () => {
      assert.throws(
        () => validateIngressOptions({ ...GOOD, ...patch } as IngressOptions),
        (e: unknown) => e instanceof RangeError && /^invalid ingress option /.test(e.message) && msg.test(e.message),
      );
    });
  }
});
