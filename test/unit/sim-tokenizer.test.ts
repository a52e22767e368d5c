import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { countTokens, detokenize, isValidTokenId, renderChat, tokenize } from '../../sim/tokenizer.ts';

const SPECIAL_BASE = 2 ** 34;
const SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];

const PROSE =
  'The quick brown fox jumps over the lazy dog. Routers balance load across a fleet of workers, ' +
  'and prefix caching saves compute when many prompts share the same beginning. In practice, ' +
  'a request that lands on a worker which already holds its prefix starts answering sooner, ' +
  'while one that lands elsewhere must recompute every token before the first word comes back.';

describe('tokenizer', () => {
  test('tokenizer - equal text always gives equal ids', () => {
    assert.deepEqual(tokenize(PROSE), tokenize(PROSE));
    assert.deepEqual(tokenize('hello world'), tokenize('hello world'));
    assert.notDeepEqual(tokenize('hello world'), tokenize('hello World'));
  });

  test('tokenizer - the empty string has no tokens', () => {
    assert.deepEqual(tokenize(''), []);
    assert.equal(detokenize([]), '');
  });

  const roundTrips: [string, string][] = [
    ['ASCII prose', PROSE],
    ['digits and punctuation', 'Order #12345 costs $67.89 (tax: 0.5%) -- ok?!'],
    ['runs of whitespace', 'a  b\t\tc\n\n\nd   '],
    ['leading and trailing spaces', '   padded   '],
    ['emoji', 'Launch 🚀 now 👩‍💻 and 🎉🎉!'],
    ['CJK', '你好，世界。これは日本語のテキストです。한국어도 있어요.'],
    ['combining marks and accents', 'Cafe\u0301 naïve façade Ωμέγα'],
    ['mixed scripts without spaces', 'abc漢字123😀def'],
    [
      'chat template with special tokens',
      renderChat([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi! What is 2+2?' },
      ]),
    ],
    ['special tokens next to punctuation and whitespace', 'ok.<|eot_id|> \n<|eot_id|><|begin_of_text|>!'],
    ['text that merely looks like a special token', '<|not_special|> and <|eot_id'],
  ];
  for (const [name, text] of roundTrips) {
    test(`tokenizer - detokenize(tokenize(x)) is x for ${name}`, () => {
      const ids = tokenize(text);
      assert.ok(ids.length > 0);
      assert.equal(detokenize(ids), text);
    });
  }

  test('tokenizer - English prose averages 3 to 5 characters per token', () => {
    const ratio = PROSE.length / countTokens(PROSE);
    assert.ok(ratio >= 3 && ratio <= 5, `chars per token ${ratio.toFixed(2)}`);
  });

  test('tokenizer - countTokens is the length of tokenize', () => {
    assert.equal(countTokens(PROSE), tokenize(PROSE).length);
  });

  test('tokenizer - a shared text prefix gives a shared token prefix', () => {
    const a = tokenize(`${PROSE} First question?`);
    const b = tokenize(`${PROSE} Second question?`);
    const base = tokenize(PROSE);
    assert.deepEqual(a.slice(0, base.length), base);
    assert.deepEqual(b.slice(0, base.length), base);
  });

  test('tokenizer - each special token is one id, whatever precedes it', () => {
    for (const [i, s] of SPECIALS.entries()) {
      for (const before of ['', 'word', 'end.', 'end!', ' ', '\n\n', '123']) {
        const ids = tokenize(`${before}${s}`);
        assert.equal(ids.at(-1), SPECIAL_BASE + i, `${JSON.stringify(before)} + ${s}`);
        assert.equal(ids.filter((id) => id >= SPECIAL_BASE).length, 1);
      }
    }
  });

  test('tokenizer - unknown <|...|> markers are ordinary text', () => {
    const ids = tokenize('<|not_special|>');
    assert.ok(ids.every((id) => id < SPECIAL_BASE));
  });

  test('tokenizer - renderChat has the Llama 3 shape', () => {
    const text = renderChat([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'U' },
    ]);
    assert.equal(
      text,
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>' + '<|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>' + '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  test('tokenizer - renderChat without the generation prompt ends at the last eot', () => {
    const text = renderChat([{ role: 'user', content: 'U' }], false);
    assert.ok(text.startsWith('<|begin_of_text|>'));
    assert.ok(text.endsWith('U<|eot_id|>'));
    assert.ok(!text.includes('assistant'));
  });

  test('tokenizer - a rendered chat tokenizes with one id per special token', () => {
    const ids = tokenize(
      renderChat([
        { role: 'user', content: 'Why?' },
        { role: 'assistant', content: '' },
      ]),
    );
    const specials = ids.filter((id) => id >= SPECIAL_BASE).map((id) => SPECIALS[id - SPECIAL_BASE]);
    assert.deepEqual(specials, [
      '<|begin_of_text|>',
      '<|start_header_id|>',
      '<|end_header_id|>',
      '<|eot_id|>',
      '<|start_header_id|>',
      '<|end_header_id|>',
      '<|eot_id|>',
      '<|start_header_id|>',
      '<|end_header_id|>',
    ]);
  });

  test('tokenizer - every id tokenize produces is valid', () => {
    const text = `${PROSE} 🚀 你好 ${renderChat([{ role: 'user', content: 'x' }])}`;
    assert.ok(tokenize(text).every(isValidTokenId));
  });

  const validity: [string, number, boolean][] = [
    ['zero', 0, true],
    ['a one-byte piece', 'a'.charCodeAt(0), true],
    ['the largest four-byte piece', 4 * 2 ** 32 - 1, true],
    ['the largest one-byte piece', 255, true],
    ['a one-byte id past a byte', 256, false],
    ['the largest two-byte piece', 2 ** 32 + 0xffff, true],
    ['a two-byte id past two bytes', 2 ** 32 + 0x10000, false],
    ['a three-byte id past three bytes', 2 * 2 ** 32 + 0x1000000, false],
    ['the first special token', SPECIAL_BASE, true],
    ['the last special token', SPECIAL_BASE + SPECIALS.length - 1, true],
    ['past the last special token', SPECIAL_BASE + SPECIALS.length, false],
    ['negative', -1, false],
    ['fractional', 1.5, false],
    ['NaN', Number.NaN, false],
    ['Infinity', Number.POSITIVE_INFINITY, false],
    ['beyond safe integers', 2 ** 60, false],
  ];
  for (const [name, id, ok] of validity) {
    test(`tokenizer - isValidTokenId is ${ok} for ${name}`, () => {
      assert.equal(isValidTokenId(id), ok);
    });
  }

  test('tokenizer - ids that are not pieces detokenize to U+FFFD', () => {
    assert.equal(detokenize([-1]), '\uFFFD');
    assert.equal(detokenize([1.5]), '\uFFFD');
    assert.equal(detokenize([SPECIAL_BASE + 99]), '\uFFFD');
    assert.equal(detokenize([...tokenize('ab'), -1, ...tokenize('cd')]), 'ab\uFFFDcd');
  });
});
