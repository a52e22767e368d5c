import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiKeys, bearerToken, parseApiKeys } from '../../ingress/api-keys.ts';

const FILE = ['# keys for the router', '', 'alice:sk-alice-0123456789abcdef', '  sk-bare-0123456789abcdef  ', 'bob : sk-bob-0123456789abcdef', '# the end'].join('\n');

describe('api-keys', () => {
  test('api-keys - names from the file, key-<line> for bare keys; comments and blanks ignored', () => {
    const e = parseApiKeys(FILE, 'keys.txt');
    assert.deepEqual(
      e.map((x) => x.name),
      ['alice', 'key-4', 'bob'],
    );
  });

  test('api-keys - only digests are held, never the keys', () => {
    const e = parseApiKeys(FILE, 'keys.txt');
    for (const x of e) assert.equal(x.digest.length, 32);
    assert.doesNotMatch(JSON.stringify(e), /sk-/);
    assert.doesNotMatch(JSON.stringify(e.map((x) => x.digest.toString('latin1'))), /sk-alice/);
  });

  test('api-keys - match gives the name of the key presented, null for anything else', () => {
    const k = new ApiKeys(parseApiKeys(FILE, 'keys.txt'));
    assert.equal(k.match('sk-alice-0123456789abcdef'), 'alice');
    assert.equal(k.match('sk-bare-0123456789abcdef'), 'key-4');
    assert.equal(k.match('sk-bob-0123456789abcdef'), 'bob');
    for (const bad of [null, '', 'sk-alice-0123456789abcde', 'sk-alice-0123456789abcdef0', 'SK-ALICE-0123456789ABCDEF', 'alice:sk-alice-0123456789abcdef', 'x'.repeat(10_000)])
      assert.equal(k.match(bad), null, String(bad));
  });

  test("api-keys - priority=<int> after the key is the key's grant; without it, 0", () => {
    const e = parseApiKeys(['ops:sk-ops-0123456789abcdef priority=-10', 'batch:sk-batch-0123456789abcdef   priority=5', 'plain:sk-plain-0123456789abcdef'].join('\n'), 'k');
    assert.deepEqual(
      e.map((x) => [x.name, x.bestPriority]),
      [
        ['ops', -10],
        ['batch', 5],
        ['plain', 0],
      ],
    );
    assert.equal(new ApiKeys(e).entry('sk-ops-0123456789abcdef')?.bestPriority, -10);
    assert.deepEqual(e[0]!.limits, { rpm: null, tpm: null });
    assert.equal(new ApiKeys(e).hasLimits, false);
    assert.equal(new ApiKeys(e).entry('sk-ops-0123456789abcdef priority=-10'), null);
  });

  test('api-keys - rpm=<n> and tpm=<n> after the key are its per-minute limits', () => {
    const e = parseApiKeys(['a:sk-a-0123456789abcdefg rpm=60 tpm=100000 priority=-1', 'b:sk-b-0123456789abcdefg tpm=5'].join('\n'), 'k');
    assert.deepEqual(
      e.map((x) => [x.name, x.limits, x.bestPriority]),
      [
        ['a', { rpm: 60, tpm: 100000 }, -1],
        ['b', { rpm: null, tpm: 5 }, 0],
      ],
    );
    assert.equal(new ApiKeys(e).hasLimits, true);
  });

  test('api-keys - bearer tokens: scheme case-insensitive, nothing else accepted', () => {
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('bearer abc'), 'abc');
    for (const h of [undefined, '', 'Bearer', 'Bearer ', 'Basic abc', 'abc', 'Bearer a b', 'Bearerabc']) assert.equal(bearerToken(h), null, String(h));
  });

  const BAD: [string, string, RegExp][] = [
    ['an empty file', '', /holds no API key/],
    ['only comments', '# nothing\n\n   \n', /holds no API key/],
    ['a short key', 'a:short', /line 1: key "a" is shorter than 16/],
    ['a name with spaces', 'a b:sk-0123456789abcdefgh', /line 1: a key's name/],
    ['an empty name', ':sk-0123456789abcdefgh', /line 1: a key's name/],
    ['a key with spaces', 'a:sk-0123456789 abcdefgh', /line 1: a key is printable ASCII/],
    ['a non-ASCII key', 'a:sk-0123456789abcdefgh\u00e9', /line 1: a key is printable ASCII/],
    ['a name used twice', 'a:sk-0123456789abcdefgh\na:sk-0123456789abcdefgi', /line 2: the name "a" is used twice/],
    ['a key used twice', 'a:sk-0123456789abcdefgh\nb:sk-0123456789abcdefgh', /line 2: key "b" repeats/],
    ['an unknown attribute', 'a:sk-0123456789abcdefgh rpm=sk-secret', /line 1: a key is printable ASCII without spaces, and only priority=<integer>, rpm=<integer>, tpm=<integer> may follow/],
    ['a priority that is not an integer', 'a:sk-0123456789abcdefgh priority=1.5', /line 1: .*only priority=<integer>/],
    ['a zero rpm', 'a:sk-0123456789abcdefgh rpm=0', /line 1: rpm must be a whole number of at least 1/],
    ['a negative tpm', 'a:sk-0123456789abcdefgh tpm=-5', /line 1: tpm must be a whole number of at least 1/],
    ['a priority out of range', 'a:sk-0123456789abcdefgh priority=-99999999', /line 1: priority must be from -1000000 to 1000000/],
  ];
  for (const [what, text, re] of BAD) {
    test(`api-keys - ${what} is refused with a message naming the file`, () => {
      assert.throws(
        () => parseApiKeys(text, '/etc/llmr/keys'),
        (e: unknown) => e instanceof Error && e.message.startsWith('/etc/llmr/keys') && re.test(e.message) && !/sk-/.test(e.message),
      );
    });
  }
});
