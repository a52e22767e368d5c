// The whole stack with the official openai client: ingress → NATS → scheduler → simulated vLLM
// workers and back, chat and completions, streamed and not.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { SIM_MODEL } from '../helpers/sim.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

describe('router e2e - openai client', () => {
  let stack: Stack;
  let client: OpenAI;
  let direct: OpenAI;
  const scope = cleanupScope();

  before(async () => {
    stack = await startStack(scope, { workers: 2 });
    client = stack.client();
    direct = new OpenAI({ baseURL: `${stack.workers[0]!.url}/v1`, apiKey: 'x', maxRetries: 0 });
  });
  after(() => scope.run());

  test('router e2e - chat, not streamed, answers as the worker would', async () => {
    const body = { model: SIM_MODEL, messages: [{ role: 'user' as const, content: 'Tell me about routers.' }], max_tokens: 12 };
    const viaRouter = await client.chat.completions.create(body);
    const viaWorker = await direct.chat.completions.create(body);
    assert.equal(viaRouter.object, 'chat.completion');
    assert.equal(viaRouter.choices[0]!.message.content, viaWorker.choices[0]!.message.content);
    assert.equal(viaRouter.choices[0]!.finish_reason, 'length');
    assert.equal(viaRouter.usage!.completion_tokens, 12);
    assert.equal(viaRouter.usage!.prompt_tokens, viaWorker.usage!.prompt_tokens);
  });

  test('router e2e - chat, streamed, role first then content, usage last', async () => {
    const stream = await client.chat.completions.create({
      model: SIM_MODEL,
      messages: [{ role: 'user', content: 'Stream me something.' }],
      max_tokens: 10,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage!.completion_tokens, 10);
    const whole = await direct.chat.completions.create({ model: SIM_MODEL, messages: [{ role: 'user', content: 'Stream me something.' }], max_tokens: 10 });
    assert.equal(text, whole.choices[0]!.message.content);
  });

  test('router e2e - completions, not streamed', async () => {
    const r = await client.completions.create({ model: SIM_MODEL, prompt: 'Once upon a time', max_tokens: 7 });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.usage!.completion_tokens, 7);
    assert.ok(r.choices[0]!.text.length > 0);
  });

  test('router e2e - completions, streamed', async () => {
    const stream = await client.completions.create({ model: SIM_MODEL, prompt: 'Once upon a time', max_tokens: 6, stream: true });
    let n = 0;
    let finish: string | null = null;
    for await (const c of stream) {
      n++;
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(n, 6);
    assert.equal(finish, 'length');
  });

  test('router e2e - models lists what the fleet serves', async () => {
    const models = [];
    for await (const m of client.models.list()) models.push(m.id);
    assert.deepEqual(models, [SIM_MODEL]);
  });

  test('router e2e - unknown model is a 404 NotFoundError', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError);
      assert.equal(e.status, 404);
      assert.match(e.message, /no-such-model/);
      return true;
    });
  });

  test('router e2e - a worker 400 passes through unchanged', async () => {
    await assert.rejects(client.completions.create({ model: SIM_MODEL, prompt: 'x', max_tokens: 0 }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.status, 400);
      const body = e.error as { message?: string; param?: string };
      assert.equal(body.param, 'max_tokens');
      return true;
    });
  });
});
