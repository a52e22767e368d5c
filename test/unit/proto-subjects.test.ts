import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  escapeToken,
  isSubjectId,
  modelOfRequestSubject,
  PROBE_TOKEN,
  parseInboundSubject,
  parseResponseSubject,
  subjects,
  unescapeToken,
  parseHeartbeatSubject,
  ingressOfCancelSubject,
} from '../../proto/subjects.ts';

const TRICKY_NAMES = [
  'meta-llama/Llama-3.1-8B-Instruct',
  'Qwen/Qwen2.5-0.5B-Instruct',
  'a.b.c',
  '.',
  '..',
  '*',
  '>',
  'llm.v1.req.*',
  'org/model > 1',
  'with space',
  ' leading and trailing ',
  'tab\there',
  'new\nline',
  'under_score',
  '_',
  '__',
  '_41',
  '_ZZ',
  'percent%20',
  'ünïcödé',
  '模型/通义千问',
  'emoji-🦙-llama',
  '\uFEFFbom-first',
  '\u0000nul',
  '',
  'a'.repeat(512),
];

describe('subjects', () => {
  for (const name of TRICKY_NAMES) {
    test(`subjects - escape round-trips ${JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}…(${name.length})` : name)}`, () => {
      const t = escapeToken(name);
      assert.equal(unescapeToken(t), name);
      assert.ok(t.length > 0, 'a token is never empty');
      assert.doesNotMatch(t, /[.*>\s]/, 'a token holds no subject separator, wildcard or whitespace');
      assert.match(t, /^[A-Za-z0-9_-]+$/, 'a token is plain ASCII letters, digits, _ and -');
      assert.equal(modelOfRequestSubject(subjects.request(name)), name);
    });
  }

  test('subjects - safe names are kept as they are', () => {
    assert.equal(escapeToken('Llama-3-8B'), 'Llama-3-8B');
    assert.equal(escapeToken('abcXYZ019-'), 'abcXYZ019-');
  });

  test('subjects - the escape is UTF-8 bytes in upper-case hex', () => {
    assert.equal(escapeToken('meta-llama/Llama-3.1-8B-Instruct'), 'meta-llama_2FLlama-3_2E1-8B-Instruct');
    assert.equal(escapeToken('_'), '_5F');
    assert.equal(escapeToken('é'), '_C3_A9');
    assert.equal(escapeToken(''), '_');
  });

  test('subjects - distinct names give distinct tokens', () => {
    const tokens = new Set(TRICKY_NAMES.map(escapeToken));
    assert.equal(tokens.size, new Set(TRICKY_NAMES).size);
  });

  const MALFORMED: [string, string][] = [
    ['a trailing underscore', 'abc_'],
    ['one hex digit', 'abc_4'],
    ['lower-case hex', 'a_2e'],
    ['non-hex digits', '_ZZ'],
    ['a dot', 'a.b'],
    ['a wildcard', '*'],
    ['a full wildcard', '>'],
    ['a space', 'a b'],
    ['a raw non-ASCII character', 'é'],
    ['a byte that is not UTF-8', '_FF'],
    ['a truncated UTF-8 sequence', '_C3'],
    ['an escaped safe character', 'a_2D'],
    ['an escaped letter', '_41'],
    ['the empty token', ''],
  ];
  for (const [what, token] of MALFORMED) {
    test(`subjects - unescape rejects ${what} (${JSON.stringify(token)})`, () => {
      assert.throws(() => unescapeToken(token), Error);
    });
  }

  test('subjects - request subjects carry one escaped token', () => {
    assert.equal(subjects.request('a.b'), 'llm.v2.req.a_2Eb');
    assert.equal(subjects.request('meta-llama/Llama-3.1-8B-Instruct').split('.').length, 4);
  });

  test('subjects - modelOfRequestSubject returns null for other or malformed subjects', () => {
    assert.equal(modelOfRequestSubject('llm.v2.resp.ing.req'), null);
    assert.equal(modelOfRequestSubject('llm.v1.req.model'), null, 'a v1 request is not ours');
    assert.equal(modelOfRequestSubject('llm.v2.req.a.b'), null);
    assert.equal(modelOfRequestSubject('llm.v2.req.'), null);
    assert.equal(modelOfRequestSubject('llm.v2.req.*'), null);
    assert.equal(modelOfRequestSubject('llm.v2.req.bad_'), null);
    assert.equal(modelOfRequestSubject('llm.v2.req.plain-model'), 'plain-model');
  });

  test('subjects - id builders accept plain ids and reject the rest', () => {
    assert.equal(subjects.response('ing-1', '01HZX'), 'llm.v2.resp.ing-1.01HZX');
    assert.equal(subjects.frames('ing-1', 'sched_2'), 'llm.v2.resp.ing-1._frames.sched_2');
    assert.equal(subjects.responseAll('ing-1'), 'llm.v2.resp.ing-1.>');
    assert.equal(subjects.cancel('sched_2', 'ing-1'), 'llm.v1.cancel.sched_2.ing-1');
    assert.equal(subjects.cancelAll('sched_2'), 'llm.v1.cancel.sched_2.*');
    assert.equal(subjects.heartbeat('eu-west', 'agent-1', 'w1'), 'llm.v1.hb.eu-west.agent-1.w1');
    assert.equal(subjects.agentDrain('agent-1'), 'llm.v1.agent.agent-1.drain');
    assert.equal(subjects.kvEvents('agent-1', 'w1'), 'llm.v1.kv.agent-1.w1');
    assert.equal(subjects.audit('eu', 'end'), 'audit.v1.eu.end');
    for (const bad of ['', 'a.b', 'a*', '>', 'a b', 'é', 'x'.repeat(129)]) {
      assert.throws(() => subjects.response('ing', bad), /request id/);
      assert.throws(() => subjects.frames(bad, 's'), /ingress id/);
      assert.throws(() => subjects.frames('i', bad), /scheduler id/);
      assert.throws(() => subjects.cancel(bad, 'i'), /scheduler id/);
      assert.throws(() => subjects.cancel('s', bad), /ingress id/);
      assert.throws(() => subjects.heartbeat(bad, 'a', 'w'), /region id/);
      assert.throws(() => subjects.heartbeat('r', bad, 'w'), /agent id/);
      assert.throws(() => subjects.heartbeat('r', 'a', bad), /worker id/);
      assert.throws(() => subjects.agentDrain(bad), /agent id/);
      assert.equal(isSubjectId(bad), false);
    }
    assert.equal(isSubjectId('x'.repeat(128)), true);
  });

  test('subjects - heartbeat and cancel subjects parse back to their tokens', () => {
    assert.deepEqual(parseHeartbeatSubject(subjects.heartbeat('eu-west', 'agent-1', 'w1')), { region: 'eu-west', agent: 'agent-1', worker: 'w1' });
    for (const bad of ['llm.v1.hb.r.w', 'llm.v1.hb.r.a.w.x', 'llm.v2.hb.r.a.w', 'llm.v1.hb.ping', 'llm.v1.hb.r.a.', 'llm.v1.kv.r.a.w']) assert.equal(parseHeartbeatSubject(bad), null, bad);
    assert.equal(ingressOfCancelSubject(subjects.cancel('s', 'ing-1')), 'ing-1');
    assert.equal(ingressOfCancelSubject('llm.v1.cancel.s.'), null);
  });

  test('subjects - audit subjects never overlap request subjects', () => {
    assert.ok(!subjects.audit('r', 'p').startsWith('llm.'));
    assert.ok(!subjects.auditAll.startsWith('llm.'));
  });

  test('subjects - the probe token is a valid id and response subjects parse back to their ids', () => {
    assert.ok(isSubjectId(PROBE_TOKEN));
    assert.deepEqual(parseResponseSubject(subjects.response('ing', PROBE_TOKEN)), { ingressId: 'ing', streamId: PROBE_TOKEN });
    assert.deepEqual(parseResponseSubject('llm.v2.resp.ing.01ABC'), { ingressId: 'ing', streamId: '01ABC' });
    assert.deepEqual(parseResponseSubject(subjects.response('x'.repeat(128), 'A_b-9')), { ingressId: 'x'.repeat(128), streamId: 'A_b-9' });
  });

  const NOT_RESPONSES: [string, string][] = [
    ['another kind of subject', 'llm.v1.cancel.s.ing'],
    ['another version', 'llm.v1.resp.ing.01ABC'],
    ['a missing stream id', 'llm.v2.resp.ing'],
    ['an empty stream id', 'llm.v2.resp.ing.'],
    ['an empty ingress id', 'llm.v2.resp..01ABC'],
    ['an extra token', 'llm.v2.resp.ing.01ABC.x'],
    ['a wildcard', 'llm.v2.resp.ing.*'],
    ['a stream id that is not a plain id', 'llm.v2.resp.ing.a%b'],
    ['an ingress id too long', `llm.v2.resp.${'x'.repeat(129)}.01ABC`],
    ['a prefix only', 'xllm.v2.resp.ing.01ABC'],
  ];
  for (const [what, subject] of NOT_RESPONSES) {
    test(`subjects - parseResponseSubject returns null for ${what}`, () => {
      assert.equal(parseResponseSubject(subject), null);
    });
  }

  test('subjects - what an ingress receives parses into a stream, a probe or a bundle from a scheduler', () => {
    assert.deepEqual(parseInboundSubject(subjects.response('ing', '01ABC')), { ingressId: 'ing', streamId: '01ABC', scheduler: null });
    assert.deepEqual(parseInboundSubject(subjects.response('ing', PROBE_TOKEN)), { ingressId: 'ing', streamId: PROBE_TOKEN, scheduler: null });
    assert.deepEqual(parseInboundSubject(subjects.frames('ing', 'sched-1')), { ingressId: 'ing', streamId: null, scheduler: 'sched-1' });
    for (const bad of [
      'llm.v2.resp.ing._frames',
      'llm.v2.resp.ing._frames.',
      'llm.v2.resp.ing._frames.a.b',
      'llm.v2.resp.ing._framesx.s',
      'llm.v2.resp.ing.x.s',
      'llm.v1.resp.ing._frames.s',
      'llm.v2.resp..01ABC',
    ]) {
      assert.equal(parseInboundSubject(bad), null, bad);
    }
  });
});
