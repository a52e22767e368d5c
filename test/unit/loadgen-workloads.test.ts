// bench/loadgen workloads: exact token counts on the simulator's tokenizer, determinism per seed,
// and multi-turn history that grows with the server's answers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { renderChat, tokenize, type ChatMessageLike } from '../../sim/tokenizer.ts';
import { exactChatContent, exactText, randomWords } from '../../bench/loadgen/prompt-text.ts';
import { mulberry32 } from '../../bench/lib/prng.ts';
import { createSource, lengthRange, resolveWorkload, SESSION_HEADER, type WorkItem, type WorkloadInput } from '../../bench/loadgen/workloads.ts';

const MODEL = 'm';

function take(input: WorkloadInput, n: number, seed = 1): WorkItem[] {
  const src = createSource(resolveWorkload(input), { model: MODEL, seed });
  return Array.from({ length: n }, () => src.next()!);
}

/** Prompt tokens as the simulator counts them for this request. */
function serverTokens(item: WorkItem): number {
  return item.route === 'chat' ? tokenize(renderChat(item.body.messages as ChatMessageLike[])).length : tokenize(item.body.prompt as string).length;
}

function checkBody(item: WorkItem): void {
  assert.equal(item.body.model, MODEL);
  assert.equal(item.body.max_tokens, item.outputTokens);
  assert.equal(item.body.ignore_eos, true);
  assert.equal(item.body.stream, true);
  assert.deepEqual(item.body.stream_options, { include_usage: true });
}

describe('loadgen workloads', () => {
  test('prompt text - n short words are exactly n tokens, and joined texts add up', () => {
    const r = mulberry32(3);
    for (const n of [0, 1, 2, 15, 16, 17, 1000]) {
      const words = randomWords(r, n);
      assert.equal(tokenize(words.join(' ')).length, n);
    }
    const a = randomWords(r, 40);
    const b = randomWords(r, 23);
    assert.equal(tokenize(exactText(63, a, b)).length, 63);
    assert.throws(() => exactText(64, a, b), /expected 64/);
  });

  test('prompt text - chat content fits the rendered prompt exactly, or says it cannot', () => {
    const r = mulberry32(4);
    const fixed = randomWords(r, 10);
    for (const target of [40, 41, 100, 257]) {
      const content = exactChatContent(target, fixed, randomWords(r, target));
      assert.equal(tokenize(renderChat([{ role: 'user', content }])).length, target);
      assert.ok(content.startsWith(fixed.join(' ')));
    }
    assert.throws(() => exactChatContent(12, fixed, randomWords(r, 12)), /cannot fit/);
  });

  const lengthCases: [string, WorkloadInput][] = [
    ['random completions', { kind: 'random', inputLen: 200, outputLen: 30, rangeRatio: 0.5 }],
    ['random completions with a shared prefix', { kind: 'random', inputLen: 100, outputLen: 10, prefixLen: 37 }],
    ['random chat', { kind: 'random', route: 'chat', inputLen: 150, outputLen: 20, rangeRatio: 0.3 }],
    ['random chat with a shared prefix', { kind: 'random', route: 'chat', inputLen: 64, outputLen: 8, prefixLen: 50 }],
    ['shared_prefix completions', { kind: 'shared_prefix', numPrefixes: 3, prefixLen: 100, suffixLen: 20, outputLen: 7 }],
    ['shared_prefix chat', { kind: 'shared_prefix', route: 'chat', numPrefixes: 3, prefixLen: 100, suffixLen: 20, outputLen: 7 }],
  ];
  for (const [name, input] of lengthCases) {
    test(`${name} - every prompt is exactly inputTokens on the simulator, with an exact output length`, () => {
      const spec = resolveWorkload(input);
      for (const item of take(input, 50)) {
        assert.equal(serverTokens(item), item.inputTokens);
        checkBody(item);
        assert.deepEqual(item.headers, {});
        if (spec.kind === 'random') {
          const [lo, hi] = lengthRange(spec.inputLen, spec.rangeRatio);
          assert.ok(item.inputTokens >= spec.prefixLen + lo && item.inputTokens <= spec.prefixLen + hi);
          const [olo, ohi] = lengthRange(spec.outputLen, spec.rangeRatio);
          assert.ok(item.outputTokens >= olo && item.outputTokens <= ohi);
        } else if (spec.kind === 'shared_prefix') {
          assert.equal(item.inputTokens, spec.prefixLen + spec.suffixLen);
          assert.equal(item.outputTokens, spec.outputLen);
        }
      }
    });

    test(`${name} - the same seed gives the same requests, another seed others`, () => {
      assert.deepEqual(take(input, 20, 7), take(input, 20, 7));
      assert.notDeepEqual(take(input, 20, 7), take(input, 20, 8));
    });
  }

  test('random - lengths spread over the range ratio, as vLLM draws them', () => {
    assert.deepEqual(lengthRange(1024, 0), [1024, 1024]);
    assert.deepEqual(lengthRange(100, 0.5), [50, 150]);
    assert.deepEqual(lengthRange(1, 0.9), [1, 1]);
    const lens = new Set(take({ kind: 'random', inputLen: 20, outputLen: 4, rangeRatio: 0.5 }, 300).map((i) => i.inputTokens));
    assert.equal(Math.min(...lens), 10);
    assert.equal(Math.max(...lens), 30);
  });

  test('random - a prefix length gives every prompt the same first tokens', () => {
    const items = take({ kind: 'random', inputLen: 30, outputLen: 4, prefixLen: 32 }, 10);
    const heads = new Set(
      items.map((i) =>
        tokenize(i.body.prompt as string)
          .slice(0, 32)
          .join(','),
      ),
    );
    const tails = new Set(items.map((i) => (i.body.prompt as string).split(' ').slice(32).join(' ')));
    assert.equal(heads.size, 1);
    assert.equal(tails.size, 10);
  });

  test('shared_prefix - N distinct prefixes, each shared by many requests, each suffix unique', () => {
    const items = take({ kind: 'shared_prefix', numPrefixes: 4, prefixLen: 64, suffixLen: 16, outputLen: 4 }, 200);
    const byPrefix = new Map<string, number>();
    const suffixes = new Set<string>();
    for (const i of items) {
      const words = (i.body.prompt as string).split(' ');
      const p = words.slice(0, 64).join(' ');
      byPrefix.set(p, (byPrefix.get(p) ?? 0) + 1);
      suffixes.add(words.slice(64).join(' '));
    }
    assert.equal(byPrefix.size, 4);
    for (const n of byPrefix.values()) assert.ok(n >= 20, `each prefix is reused (got ${n})`);
    assert.equal(suffixes.size, 200);
  });

  test('workloads - bad options are rejected before anything is built', () => {
    assert.throws(() => resolveWorkload({ kind: 'random', inputLen: 0 }), /inputLen/);
    assert.throws(() => resolveWorkload({ kind: 'random', rangeRatio: 1 }), /rangeRatio/);
    assert.throws(() => resolveWorkload({ kind: 'shared_prefix', numPrefixes: 1.5 }), /numPrefixes/);
    assert.throws(() => resolveWorkload({ kind: 'multi_turn', turns: 0 }), /turns/);
    assert.throws(() => resolveWorkload({ kind: 'random', route: 'embeddings' as 'chat' }), /route/);
    assert.throws(() => resolveWorkload({ kind: 'nope' } as unknown as WorkloadInput), /unknown workload/);
    assert.throws(() => createSource(resolveWorkload({ kind: 'random', route: 'chat', inputLen: 5 }), { model: MODEL, seed: 0 }), /cannot fit/);
    assert.ok(Object.isFrozen(resolveWorkload({ kind: 'random' })));
  });
});

describe('loadgen multi_turn', () => {
  const MT: WorkloadInput = { kind: 'multi_turn', sessions: 2, turns: 3, systemPromptLen: 40, userTurnLen: 12, outputLen: 6 };
  const answer = (item: WorkItem): string => `Answer to ${item.sessionId} turn ${item.turn}: some words here.`;

  test('multi_turn - each turn resends the history with the server answers, and the history grows', () => {
    const src = createSource(resolveWorkload(MT), { model: MODEL, seed: 5 });
    const a0 = src.next()!;
    const b0 = src.next()!;
    assert.equal(src.next(), null, 'both sessions await an answer');
    assert.notEqual(a0.sessionId, b0.sessionId);
    for (const item of [a0, b0]) {
      assert.equal(item.route, 'chat');
      assert.equal(item.turn, 0);
      assert.deepEqual(item.headers, { [SESSION_HEADER]: item.sessionId });
      const msgs = item.body.messages as ChatMessageLike[];
      assert.deepEqual(
        msgs.map((m) => m.role),
        ['system', 'user'],
      );
      assert.equal(tokenize(msgs[0]!.content).length, 40);
      assert.equal(tokenize(msgs[1]!.content).length, 12);
      assert.equal(item.inputTokens, serverTokens(item));
      checkBody(item);
    }
    // b answers first, so its next turn comes first.
    src.complete(b0, answer(b0));
    const b1 = src.next()!;
    assert.equal(b1.sessionId, b0.sessionId);
    assert.equal(b1.turn, 1);
    assert.equal(src.next(), null);
    const prev = b0.body.messages as ChatMessageLike[];
    const msgs = b1.body.messages as ChatMessageLike[];
    assert.deepEqual(msgs.slice(0, 2), prev, 'the earlier prompt is a prefix of the next');
    assert.deepEqual(msgs[2], { role: 'assistant', content: answer(b0) });
    assert.equal(msgs[3]!.role, 'user');
    assert.equal(b1.inputTokens, serverTokens(b1));
    assert.ok(b1.inputTokens > b0.inputTokens);
    assert.deepEqual(b1.headers, { [SESSION_HEADER]: b0.sessionId });
  });

  test('multi_turn - a session ends after T turns or a failure, and a fresh one takes its place', () => {
    const src = createSource(resolveWorkload({ ...MT, sessions: 1 }), { model: MODEL, seed: 5 });
    const seen: WorkItem[] = [];
    for (let i = 0; i < 3; i++) {
      const it = src.next()!;
      seen.push(it);
      src.complete(it, answer(it));
    }
    assert.deepEqual(
      seen.map((i) => i.turn),
      [0, 1, 2],
    );
    assert.equal(new Set(seen.map((i) => i.sessionId)).size, 1);
    assert.deepEqual(
      seen.map((i) => (i.body.messages as unknown[]).length),
      [2, 4, 6],
    );
    const fresh = src.next()!;
    assert.equal(fresh.turn, 0);
    assert.notEqual(fresh.sessionId, seen[0]!.sessionId);
    src.complete(fresh, null);
    const after = src.next()!;
    assert.equal(after.turn, 0, 'a failed turn leaves nothing to build on');
    assert.notEqual(after.sessionId, fresh.sessionId);
  });

  test('multi_turn - content is deterministic per seed whatever order sessions answer in', () => {
    const run = (order: 'ab' | 'ba'): Map<string, unknown> => {
      const src = createSource(resolveWorkload(MT), { model: MODEL, seed: 9 });
      const out = new Map<string, unknown>();
      for (let round = 0; round < 3; round++) {
        const items = [src.next()!, src.next()!];
        for (const it of items) out.set(`${it.sessionId}/${it.turn}`, it.body);
        for (const it of order === 'ab' ? items : items.reverse()) src.complete(it, answer(it));
      }
      return out;
    };
    assert.deepEqual(run('ab'), run('ba'));
  });

  test('multi_turn - a shared system prompt is the same in every session, else each has its own', () => {
    const systems = (shared: boolean): Set<string> => {
      const src = createSource(resolveWorkload({ ...MT, sessions: 4, sharedSystemPrompt: shared }), { model: MODEL, seed: 1 });
      return new Set(Array.from({ length: 4 }, () => (src.next()!.body.messages as ChatMessageLike[])[0]!.content));
    };
    assert.equal(systems(true).size, 1);
    assert.equal(systems(false).size, 4);
    const none = createSource(resolveWorkload({ ...MT, systemPromptLen: 0 }), { model: MODEL, seed: 1 }).next()!;
    assert.deepEqual(
      (none.body.messages as ChatMessageLike[]).map((m) => m.role),
      ['user'],
    );
  });
});
