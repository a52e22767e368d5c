import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { requestPrefix, routingKey } from '../../ingress/routing-key.ts';

const headers =
  (h: Record<string, string>) =>
  (name: string): string | undefined =>
    h[name];

const NONE = headers({});
const LONG_SYSTEM = 'You are a helpful assistant. '.repeat(100); // > 2 KiB

const chat = (...contents: string[]) => ({
  model: 'm',
  messages: contents.map((content, i) => ({ role: i === 0 ? 'system' : i % 2 === 1 ? 'user' : 'assistant', content })),
});

describe('routing-key', () => {
  const PRIORITY: [string, Record<string, string>, Record<string, unknown>, string][] = [
    ['x-session-id header first', { 'x-session-id': 'S', 'x-user-id': 'U' }, { session_id: 'bs', user: 'bu' }, 'session:S'],
    ['x-user-id header next', { 'x-user-id': 'U' }, { session_id: 'bs', user: 'bu' }, 'user:U'],
    ['body session_id next', {}, { session_id: 'bs', user: 'bu' }, 'session:bs'],
    ['body user last', {}, { user: 'bu' }, 'user:bu'],
    ['headers are trimmed', { 'x-session-id': '  S  ' }, {}, 'session:S'],
    ['a blank header falls through', { 'x-session-id': '   ', 'x-user-id': 'U' }, {}, 'user:U'],
    ['an empty header falls through', { 'x-session-id': '' }, { user: 'bu' }, 'user:bu'],
    ['an over-long header falls through', { 'x-session-id': 's'.repeat(257) }, { session_id: 'bs' }, 'session:bs'],
    ['a 256-character header is kept', { 'x-user-id': 'u'.repeat(256) }, {}, `user:${'u'.repeat(256)}`],
    ['a non-string body session_id falls through', {}, { session_id: 42, user: 'bu' }, 'user:bu'],
    ['a non-string body user falls through to the prefix', {}, { user: { id: 1 }, prompt: 'p' }, 'prefix:'],
    ['nothing at all gives a prefix key', {}, { prompt: 'hello' }, 'prefix:'],
  ];
  for (const [what, h, body, want] of PRIORITY) {
    test(`routing-key - ${what}`, () => {
      const k = routingKey(headers(h), body);
      if (want === 'prefix:') assert.match(k, /^prefix:[0-9a-f]{16}$/);
      else assert.equal(k, want);
    });
  }

  test('routing-key - a session and a user with the same name do not collide', () => {
    assert.notEqual(routingKey(headers({ 'x-session-id': 'alice' }), {}), routingKey(headers({ 'x-user-id': 'alice' }), {}));
  });

  test('routing-key - chats sharing a long prefix share a key', () => {
    const a = routingKey(NONE, chat(LONG_SYSTEM, 'What is the capital of France?'));
    const b = routingKey(NONE, chat(LONG_SYSTEM, 'Write a haiku about rust.'));
    assert.equal(a, b);
  });

  test('routing-key - completions sharing a long prefix share a key', () => {
    const a = routingKey(NONE, { model: 'm', prompt: `${LONG_SYSTEM}first` });
    const b = routingKey(NONE, { model: 'm', prompt: `${LONG_SYSTEM}second` });
    assert.equal(a, b);
  });

  test('routing-key - requests with different prefixes get different keys', () => {
    const keys = new Set([
      routingKey(NONE, chat('You are a pirate.', 'Hi')),
      routingKey(NONE, chat('You are a poet.', 'Hi')),
      routingKey(NONE, chat('You are a pirate.', 'Hello')),
      routingKey(NONE, { model: 'm', prompt: 'Once upon a time' }),
      routingKey(NONE, { model: 'm', prompt: 'In a galaxy far away' }),
      routingKey(NONE, { model: 'm', prompt: ['Once upon a time'] }),
      routingKey(NONE, { model: 'm', prompt: [[1, 2, 3]] }),
      routingKey(NONE, { model: 'm', prompt: [[1, 2, 4]] }),
    ]);
    assert.equal(keys.size, 8);
  });

  test('routing-key - the later turns of a conversation keep the first turn’s key', () => {
    const turn1 = routingKey(NONE, chat('You are terse.', 'Name a colour.'));
    const turn2 = routingKey(NONE, chat('You are terse.', 'Name a colour.', 'Blue.', 'Another?'));
    const turn3 = routingKey(NONE, chat('You are terse.', 'Name a colour.', 'Blue.', 'Another?', 'Red.', 'One more?'));
    assert.equal(turn2, turn1);
    assert.equal(turn3, turn1);
  });

  test('routing-key - message boundaries count: ["ab","c"] differs from ["a","bc"]', () => {
    assert.notEqual(routingKey(NONE, chat('ab', 'c')), routingKey(NONE, chat('a', 'bc')));
  });

  test('routing-key - the prefix is capped at 2 KiB of text', () => {
    assert.equal(requestPrefix({ prompt: 'x'.repeat(10_000) }).length, 2048);
    assert.equal(requestPrefix(chat('y'.repeat(10_000), 'z')).length, 2048);
    assert.equal(requestPrefix({ prompt: 'short' }), 'short');
  });

  test('routing-key - multimodal and odd message contents are hashed, not fatal', () => {
    const parts = { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] };
    assert.match(routingKey(NONE, parts), /^prefix:[0-9a-f]{16}$/);
    assert.match(routingKey(NONE, { model: 'm', messages: [null, 5, { role: 'user' }] }), /^prefix:[0-9a-f]{16}$/);
    assert.match(routingKey(NONE, { model: 'm' }), /^prefix:[0-9a-f]{16}$/);
  });

  test('routing-key - the same request always gets the same key', () => {
    const body = chat('sys', 'hello');
    assert.equal(routingKey(NONE, body), routingKey(NONE, structuredClone(body)));
  });

  const UNSAFE = ['a\r\nb', 'line\nbreak', 'cr\rhere', 'nul\u0000', 'tab\tinside', 'del\u007f', 'c1\u0085nel', 'esc\u001b[31m', 'lone \ud800 surrogate'];

  test('routing-key - a value with a control character is hashed, and the key fits in a NATS header', () => {
    for (const v of UNSAFE) {
      for (const [h, body, kind] of [
        [{ 'x-session-id': v }, {}, 'session'],
        [{ 'x-user-id': v }, {}, 'user'],
        [{}, { session_id: v }, 'session'],
        [{}, { user: v }, 'user'],
      ] as const) {
        const k = routingKey(headers(h), body);
        assert.match(k, new RegExp(`^${kind}#[0-9a-f]{16}$`), JSON.stringify(v));
        assert.doesNotThrow(() => natsHeaders().set('Llm-Routing-Key', k));
      }
    }
  });

  test('routing-key - a hashed value still routes the same way every time, apart from other values', () => {
    const keys = UNSAFE.map((v) => routingKey(NONE, { session_id: v }));
    assert.deepEqual(
      keys,
      UNSAFE.map((v) => routingKey(NONE, { session_id: v })),
    );
    assert.equal(new Set(keys).size, UNSAFE.length);
    assert.notEqual(routingKey(NONE, { session_id: 'a\nb' }), routingKey(NONE, { user: 'a\nb' }));
  });

  test('routing-key - surrounding whitespace and line ends are trimmed, not hashed; other text passes as it is', () => {
    assert.equal(routingKey(NONE, { session_id: '  s1\r\n' }), 'session:s1');
    assert.equal(routingKey(NONE, { user: 'jos\u00e9 \u{1f600}' }), 'user:jos\u00e9 \u{1f600}');
  });
});
