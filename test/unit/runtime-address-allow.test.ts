// Allow lists of networks: CIDRs and single addresses, v4 and v6; host names never match.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostOf, parseAllowList } from '../../runtime/address-allow.ts';

test('address allow - CIDRs, single addresses, IPv6 in and out of brackets', () => {
  const a = parseAllowList(' 10.0.0.0/8, 192.0.2.7 ,fd00::/8,::1');
  assert.deepEqual(a.entries, ['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::1']);
  for (const ok of ['10.255.0.1', '192.0.2.7', 'fd00::1', '[fd12::9]', '::1']) assert.equal(a.allowsIp(ok), true, ok);
  for (const no of ['11.0.0.1', '192.0.2.8', 'fe80::1', 'localhost', '', '10.0.0.1.5']) assert.equal(a.allowsIp(no), false, no);
});

test('address allow - the host of a URL or of host:port', () => {
  const a = parseAllowList('127.0.0.0/8,::1/128');
  assert.equal(a.allowsHostOf('http://127.0.0.1:8000/v1'), true);
  assert.equal(a.allowsHostOf('https://[::1]:8443'), true);
  assert.equal(a.allowsHostOf('127.0.0.9:21001'), true);
  assert.equal(a.allowsHostOf('[::1]:21001'), true);
  assert.equal(a.allowsHostOf('http://localhost:8000'), false, 'a name resolves where DNS says: never matched');
  assert.equal(a.allowsHostOf('http://127.0.0.1.nip.io:8000'), false);
  assert.equal(a.allowsHostOf('not a url'), false);
  assert.equal(hostOf('h:1'), 'h');
  assert.equal(hostOf('nocolon'), null);
});

test('address allow - bad entries stop the process with the entry named', () => {
  for (const bad of ['', ',', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/8/1', 'example.com', '10.0.0.0/x', '300.1.1.1'])
    assert.throws(() => parseAllowList(bad), RangeError, bad);
});
