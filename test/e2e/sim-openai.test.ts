// The official `openai` client against a simulated vLLM worker: what a real OpenAI-compatible
// client sees must parse and behave as it does against vLLM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import OpenAI, { NotFoundError } from 'openai';
import type { SimWorker } from '../../sim/worker.ts';
import { SIM_MODEL, startSimWorker } from '../helpers/sim.ts';

function clientFor(w: SimWorker): OpenAI {
  return new OpenAI({ baseURL: `${w.url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 10_000 });
}

async function setup(t: TestContext): Promise<{ w: SimWorker; client: OpenAI }> {
  const w = await startSimWorker(t);
  return { w, client: clientFor(w) };
}

const question = [{ role: 'user' as const, content: 'What does a prefill-aware router do with long prompts?' }];

test('openai chat - non-stream answer is an assistant message with consistent usage', async (t) => {
  const { client } = await setup(t);
  const r = await client.chat.completions.create({ model: SIM_MODEL, messages: question });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.model, SIM_MODEL);
  assert.equal(r.choices.length, 1);
  const c = r.choices[0]!;
  assert.equal(c.message.role, 'assistant');
  assert.equal(typeof c.message.content, 'string');
  assert.ok(c.message.content!.length > 0);
  // No max_tokens: the answer ends on its own (EOS), within the simulated natural length (8..32).
  assert.equal(c.finish_reason, 'stop');
  const u = r.usage!;
  assert.ok(u.prompt_tokens > 0);
  assert.ok(u.completion_tokens >= 8 && u.completion_tokens <= 32, `completion_tokens ${u.completion_tokens}`);
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
});

test('openai chat - stream starts with role assistant and its text equals the non-stream answer', async (t) => {
  const { client } = await setup(t);
  const whole = await client.chat.completions.create({ model: SIM_MODEL, messages: question });
  const stream = await client.chat.completions.create({ model: SIM_MODEL, messages: question, stream: true });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.ok(chunks.length >= 3);
  assert.equal(chunks[0]!.object, 'chat.completion.chunk');
  assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
  const ids = new Set(chunks.map((c) => c.id));
  assert.equal(ids.size, 1, 'every chunk carries the same id');
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  assert.equal(text, whole.choices[0]!.message.content);
  const finishes = chunks.map((c) => c.choices[0]?.finish_reason ?? null).filter((f) => f !== null);
  assert.deepEqual(finishes, ['stop'], 'only the last content chunk has a finish_reason');
  assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'stop');
  // Without include_usage there is no usage chunk.
  assert.ok(chunks.every((c) => c.usage == null));
});

test('openai chat - include_usage ends the stream with a usage chunk whose choices are empty', async (t) => {
  const { client } = await setup(t);
  const stream = await client.chat.completions.create({
    model: SIM_MODEL,
    messages: question,
    max_tokens: 7,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const last = chunks.at(-1)!;
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage);
  assert.equal(last.usage.completion_tokens, 7);
  assert.ok(last.usage.prompt_tokens > 0);
  assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
  // Only the final chunk carries usage; the one before it finished the choice.
  assert.ok(chunks.slice(0, -1).every((c) => c.usage == null && c.choices.length === 1));
  assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'length');
  // The usage matches what the non-stream call reports for the same request.
  const whole = await client.chat.completions.create({ model: SIM_MODEL, messages: question, max_tokens: 7 });
  assert.equal(whole.usage!.prompt_tokens, last.usage.prompt_tokens);
  assert.equal(whole.usage!.completion_tokens, last.usage.completion_tokens);
});

test('openai chat - max_tokens is honoured with finish_reason length', async (t) => {
  const { client } = await setup(t);
  const r = await client.chat.completions.create({ model: SIM_MODEL, messages: question, max_tokens: 3 });
  assert.equal(r.choices[0]!.finish_reason, 'length');
  assert.equal(r.usage!.completion_tokens, 3);
  assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + 3);
});

test('openai chat - max_completion_tokens is honoured and wins over max_tokens', async (t) => {
  const { client } = await setup(t);
  const r = await client.chat.completions.create({ model: SIM_MODEL, messages: question, max_completion_tokens: 4 });
  assert.equal(r.choices[0]!.finish_reason, 'length');
  assert.equal(r.usage!.completion_tokens, 4);
  const both = await client.chat.completions.create({ model: SIM_MODEL, messages: question, max_completion_tokens: 2, max_tokens: 6 });
  assert.equal(both.choices[0]!.finish_reason, 'length');
  assert.equal(both.usage!.completion_tokens, 2);
});

test('openai completions - non-stream answer has text, finish_reason and consistent usage', async (t) => {
  const { client } = await setup(t);
  const r = await client.completions.create({ model: SIM_MODEL, prompt: 'The router sends each request to', max_tokens: 5 });
  assert.equal(r.object, 'text_completion');
  assert.match(r.id, /^cmpl-/);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0]!.finish_reason, 'length');
  assert.ok(r.choices[0]!.text.length > 0);
  assert.equal(r.usage!.completion_tokens, 5);
  assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + r.usage!.completion_tokens);
});

test('openai completions - default max_tokens is 16', async (t) => {
  const { client } = await setup(t);
  // ignore_eos is a vLLM extension: the answer runs to max_tokens, which defaults to 16 on completions.
  const r = await client.completions.create({ model: SIM_MODEL, prompt: 'Count the blocks', ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming);
  assert.equal(r.choices[0]!.finish_reason, 'length');
  assert.equal(r.usage!.completion_tokens, 16);
});

test('openai completions - stream text equals the non-stream text and include_usage gives a final usage chunk', async (t) => {
  const { client } = await setup(t);
  const prompt = 'A decode worker streams tokens back to';
  const whole = await client.completions.create({ model: SIM_MODEL, prompt, max_tokens: 12 });
  const stream = await client.completions.create({ model: SIM_MODEL, prompt, max_tokens: 12, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.ok(chunks.every((c) => c.object === 'text_completion'));
  const text = chunks.map((c) => c.choices[0]?.text ?? '').join('');
  assert.equal(text, whole.choices[0]!.text);
  const last = chunks.at(-1)!;
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage!.completion_tokens, 12);
  assert.equal(last.usage!.prompt_tokens, whole.usage!.prompt_tokens);
  assert.equal(last.usage!.total_tokens, last.usage!.prompt_tokens + 12);
  assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'length');
});

test('openai errors - unknown model throws NotFoundError with vLLM wording', async (t) => {
  const { client } = await setup(t);
  await assert.rejects(client.chat.completions.create({ model: 'x', messages: question }), (e: unknown) => {
    assert.ok(e instanceof NotFoundError, `got ${String(e)}`);
    assert.equal(e.status, 404);
    assert.equal((e.error as { message?: string }).message, 'The model `x` does not exist.');
    assert.ok(e.message.includes('The model `x` does not exist.'), e.message);
    assert.equal(e.type, 'NotFoundError');
    assert.equal(e.param, 'model');
    return true;
  });
  await assert.rejects(client.completions.create({ model: 'x', prompt: 'hi', stream: true }), NotFoundError);
});

test('openai usage - a repeated long prompt reports cached tokens the second time', async (t) => {
  const { client } = await setup(t);
  const long = Array.from({ length: 40 }, (_, i) => `Paragraph ${i} explains how prefix caching keeps shared blocks on the GPU.`).join(' ');
  const messages = [{ role: 'user' as const, content: long }];
  const first = await client.chat.completions.create({ model: SIM_MODEL, messages, max_tokens: 2 });
  assert.equal(first.usage!.prompt_tokens_details?.cached_tokens, 0);
  const second = await client.chat.completions.create({ model: SIM_MODEL, messages, max_tokens: 2 });
  const cached = second.usage!.prompt_tokens_details?.cached_tokens ?? 0;
  assert.ok(cached > 0, `cached_tokens ${cached}`);
  assert.ok(cached < second.usage!.prompt_tokens, 'the last prompt token is always computed');
  assert.equal(cached % 16, 0, 'hits are whole blocks');
  assert.equal(second.usage!.prompt_tokens, first.usage!.prompt_tokens);
});

test('openai models - models.list returns the served models', async (t) => {
  const w = await startSimWorker(t, { models: [SIM_MODEL, 'sim-alias'] });
  const client = clientFor(w);
  const ids: string[] = [];
  for await (const m of client.models.list()) {
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'vllm');
    ids.push(m.id);
  }
  assert.deepEqual(ids, [SIM_MODEL, 'sim-alias']);
  // The alias is served too.
  const r = await client.completions.create({ model: 'sim-alias', prompt: 'hello', max_tokens: 1 });
  assert.equal(r.model, 'sim-alias');
});
