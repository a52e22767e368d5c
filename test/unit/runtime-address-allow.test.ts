import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AllowList, hostOf, parseAllowList } from '../../runtime/address-allow.ts';

// Allow lists of networks: CIDRs and single addresses, v4 and v6; host names never match.
describe('allow list', () => {
  test('allow list - IPv4 and IPv6 CIDRs and single addresses', () => {
    const l = new AllowList(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1']);
    for (const ip of ['10.1.2.3', '192.168.1.7', 'fd12:3456::1', '::1']) assert.ok(l.allowsIp(ip), ip);
    for (const ip of ['11.0.0.1', '192.168.1.8', 'fe80::1', '::2', 'localhost', '']) assert.ok(!l.allowsIp(ip), ip);
  });

  test('allow list - an IPv4-mapped IPv6 address (a dual-stack socket) is checked as IPv4', () => {
    const l = new AllowList(['10.0.0.0/8']);
    assert.ok(l.allowsIp('::ffff:10.0.0.5'));
    assert.ok(!l.allowsIp('::ffff:11.0.0.5'));
  });

  test('allow list - host:port addresses: IP literals inside only, never a host name', () => {
    const l = new AllowList(['10.0.0.0/8', 'fd00::/8']);
    assert.ok(l.allowsAddress('10.0.0.5:8000'));
    assert.ok(l.allowsAddress('[fd00::5]:8000'));
    assert.ok(!l.allowsAddress('11.0.0.5:8000'));
    assert.ok(!l.allowsAddress('gpu-1.internal:8000'), 'a name resolves wherever its owner says');
    assert.ok(!l.allowsAddress('10.0.0.5'), 'no port');
    assert.ok(!l.allowsAddress('fd00::5:8000'), 'IPv6 without brackets is ambiguous');
  });

  test('allow list - a malformed CIDR is refused, naming it', () => {
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0/8', 'host/8', '10.0.0.0/8/8', '10.0.0.0/-1']) {
      assert.throws(
        () => new AllowList([bad]),
        (e: Error) => e instanceof RangeError && e.message.includes(JSON.stringify(bad)),
        bad,
      );
    }
    assert.throws(() => new AllowList([]), RangeError);
  });

  test('allow list - hostOf takes the host out of host:port and [v6]:port', () => {
    assert.equal(hostOf('10.0.0.5:80'), '10.0.0.5');
    assert.equal(hostOf('[::1]:80'), '::1');
    assert.equal(hostOf('name:80'), 'name');
    assert.equal(hostOf('::1:80'), null);
    assert.equal(hostOf('10.0.0.5'), null);
  });

  test('allow list - parsed from a comma-separated flag, entries trimmed', () => {
    const a = parseAllowList(' 10.0.0.0/8, 192.0.2.7 ,fd00::/8,::1');
    assert.deepEqual(a.cidrs, ['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::1']);
    for (const bad of ['', ',', '10.0.0.0/33', 'example.com', '300.1.1.1']) assert.throws(() => parseAllowList(bad), RangeError, bad);
  });

  test("allow list - the host of a URL (a worker's address in a heartbeat)", () => {
    const a = parseAllowList('127.0.0.0/8,::1/128');
    assert.equal(a.allowsAddress('http://127.0.0.1:8000/v1'), true);
    assert.equal(a.allowsAddress('https://[::1]:8443'), true);
    assert.equal(a.allowsAddress('http://localhost:8000'), false, 'a name resolves where DNS says: never matched');
    assert.equal(a.allowsAddress('http://127.0.0.1.nip.io:8000'), false);
    assert.equal(a.allowsAddress('not a url'), false);
    assert.equal(a.allowsIp('[::1]'), true, 'a URL host keeps its brackets');
    assert.equal(hostOf('https://[::1]:8443/x'), '::1');
  });
});
