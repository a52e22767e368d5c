import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { naturalLength, OutputAssembler, tokenText, type Piece } from '../../sim/output-text.ts';

/** Pushes every piece, stopping at a stop-string match as the engine would; returns the pieces and what was streamed. */
function feed(a: OutputAssembler, pieces: readonly string[]): { out: Piece[]; streamed: string } {
  const out: Piece[] = [];
  for (const p of pieces) {
    const r = a.push(p);
    out.push(r);
    if (r.stopped) break;
  }
  const last = out.at(-1);
  const tail = last?.stopped ? '' : a.flush();
  return { out, streamed: out.map((r) => r.delta).join('') + tail };
}

describe('output-text', () => {
  test('output-text - tokenText is deterministic for a seed and index', () => {
    for (const seed of [0, 1, 42, 0xffffffff]) {
      for (let i = 0; i < 50; i++) assert.equal(tokenText(seed, i), tokenText(seed, i));
    }
  });

  test('output-text - different seeds give different texts', () => {
    const text = (seed: number): string => Array.from({ length: 40 }, (_, i) => tokenText(seed, i)).join('');
    assert.notEqual(text(1), text(2));
    assert.notEqual(text(123456), text(654321));
  });

  test('output-text - token 0 has no leading space and starts a sentence; later tokens start with a space', () => {
    for (const seed of [3, 77, 9001]) {
      const first = tokenText(seed, 0);
      assert.ok(!first.startsWith(' '));
      assert.match(first, /^[A-Z]/);
      for (let i = 1; i < 30; i++) assert.match(tokenText(seed, i), /^ \S+$/);
    }
  });

  test('output-text - a long output reads as sentences of words', () => {
    const text = Array.from({ length: 300 }, (_, i) => tokenText(7, i)).join('');
    assert.match(text, /^[A-Z][A-Za-z]*( [A-Za-z]+\.?)+$/);
    assert.ok(text.includes('.'), 'some sentences end');
  });

  const bounds: [number, number][] = [
    [1, 1],
    [8, 32],
    [1, 1000],
    [100, 101],
  ];
  for (const [min, max] of bounds) {
    test(`output-text - naturalLength stays within [${min}, ${max}]`, () => {
      const seen = new Set<number>();
      for (let seed = 0; seed < 500; seed++) {
        const n = naturalLength(seed * 2654435761, min, max);
        assert.ok(Number.isInteger(n) && n >= min && n <= max, `${n}`);
        assert.equal(naturalLength(seed * 2654435761, min, max), n);
        seen.add(n);
      }
      if (max > min) assert.ok(seen.size > 1, 'lengths vary with the seed');
    });
  }

  test('output-text - without stop strings every piece streams at once', () => {
    const a = new OutputAssembler([], false);
    assert.deepEqual(a.push('Hello'), { delta: 'Hello', stopped: false, stopReason: null });
    assert.deepEqual(a.push(' world'), { delta: ' world', stopped: false, stopReason: null });
    assert.equal(a.flush(), '');
    assert.equal(a.text, 'Hello world');
  });

  test('output-text - a stop string spanning two tokens is detected and the text before it returned', () => {
    const a = new OutputAssembler(['END'], false);
    const { out, streamed } = feed(a, ['Hello', ' E', 'ND more', ' ignored']);
    assert.equal(out.length, 3);
    assert.deepEqual(out.at(-1), { delta: ' ', stopped: true, stopReason: 'END' });
    assert.equal(streamed, 'Hello ');
    assert.equal(a.text, 'Hello ');
    assert.equal(a.stopReason, 'END');
  });

  test('output-text - a stop string spanning three tokens is detected', () => {
    const a = new OutputAssembler(['abcdef'], false);
    const { out, streamed } = feed(a, ['xy', 'ab', 'cd', 'efz']);
    assert.equal(out.at(-1)!.stopped, true);
    assert.equal(streamed, 'xy');
  });

  test('output-text - nothing of the stop string is ever emitted (holdback)', () => {
    const stop = ' cache block';
    const pieces = Array.from({ length: 400 }, (_, i) => tokenText(11, i));
    // Plant the stop string across token boundaries well into the text.
    pieces.splice(150, 0, ' cac', 'he bl', 'ock', ' tail');
    const full = pieces.join('');
    const expected = full.slice(0, full.indexOf(stop));
    const a = new OutputAssembler([stop], false);
    let streamed = '';
    let stopped = false;
    for (const p of pieces) {
      const r = a.push(p);
      streamed += r.delta;
      // At no point has the stream gone past the text before the stop string.
      assert.ok(expected.startsWith(streamed), `streamed past the stop: ${JSON.stringify(streamed.slice(-20))}`);
      if (r.stopped) {
        stopped = true;
        break;
      }
    }
    assert.ok(stopped);
    assert.equal(streamed, expected);
  });

  test('output-text - the holdback is the longest stop string minus one character', () => {
    const a = new OutputAssembler(['ab', 'wxyz'], false);
    assert.equal(a.push('0123456').delta, '0123');
    assert.equal(a.push('7').delta, '4');
    assert.equal(a.flush(), '567');
  });

  test('output-text - text that only starts like a stop string is released once it cannot be one', () => {
    const a = new OutputAssembler(['END'], false);
    const { out, streamed } = feed(a, ['The E', 'ast', ' wind']);
    assert.ok(out.every((r) => !r.stopped));
    assert.deepEqual(
      out.map((r) => r.delta),
      ['The', ' Ea', 'st wi'],
    );
    assert.equal(streamed, 'The East wind');
  });

  test('output-text - flush returns the held text when no stop matched, once', () => {
    const a = new OutputAssembler(['XYZ'], false);
    assert.equal(a.push('abc').delta, 'a');
    assert.equal(a.flush(), 'bc');
    assert.equal(a.flush(), '');
    assert.equal(a.stopReason, null);
  });

  test('output-text - include_stop_str keeps the stop string and drops what follows it', () => {
    const a = new OutputAssembler(['END'], true);
    const { out, streamed } = feed(a, ['Hello', ' E', 'ND more']);
    assert.equal(out.at(-1)!.stopped, true);
    assert.equal(out.at(-1)!.stopReason, 'END');
    assert.equal(streamed, 'Hello END');
    assert.equal(a.text, 'Hello END');
  });

  test('output-text - with include_stop_str nothing is held back (vLLM: stop_buffer_length 0)', () => {
    const a = new OutputAssembler(['END'], true);
    assert.equal(a.push('Hello').delta, 'Hello');
    assert.equal(a.push(' E').delta, ' E');
    const r = a.push('ND!');
    assert.deepEqual(r, { delta: 'ND', stopped: true, stopReason: 'END' });
  });

  test("output-text - of several stop strings in new text, the first in the request's order wins (vLLM check_stop_strings)", () => {
    const a = new OutputAssembler(['world', 'lo'], false);
    assert.deepEqual(a.push('Hello world'), { delta: 'Hello ', stopped: true, stopReason: 'world' });
    const b = new OutputAssembler(['lo', 'world'], false);
    assert.deepEqual(b.push('Hello world'), { delta: 'Hel', stopped: true, stopReason: 'lo' });
  });

  test('output-text - a stop string at the very start yields empty text', () => {
    const a = new OutputAssembler(['Stop'], false);
    const r = a.push('Stop here');
    assert.deepEqual(r, { delta: '', stopped: true, stopReason: 'Stop' });
    assert.equal(a.text, '');
  });

  test('output-text - empty stop strings are ignored', () => {
    const a = new OutputAssembler([''], false);
    assert.deepEqual(a.push('abc'), { delta: 'abc', stopped: false, stopReason: null });
  });

  test('output-text - a stop string inside one token is found', () => {
    const a = new OutputAssembler(['\n\n'], false);
    const { streamed, out } = feed(a, ['First', ' line.\n\nSecond']);
    assert.equal(out.at(-1)!.stopReason, '\n\n');
    assert.equal(streamed, 'First line.');
  });
});

test('output-text - stop strings are not checked before min_tokens', () => {
  const a = new OutputAssembler(['b'], false, 3);
  const first = a.push('a b');
  assert.equal(first.stopped, false, 'token 1 of min 3: not checked');
  assert.equal(a.push(' c').stopped, false, 'token 2 of min 3: not checked');
  const third = a.push(' b');
  assert.equal(third.stopped, true, 'token 3: checked, the new b stops');
  assert.equal(a.text, 'a b c ');
});
