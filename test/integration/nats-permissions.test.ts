// The repo's nats.conf: a user per role with least permissions, no anonymous access (the
// CVE-2023-47090 shape avoided), and the whole stack working with those users.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { encodeHeartbeat } from '../../proto/heartbeat.ts';
import { heartbeat } from '../helpers/fixtures.ts';
import { subjects } from '../../proto/subjects.ts';
import { SIM_MODEL } from '../helpers/sim.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';

const NATS_CONF = fileURLToPath(new URL('../../nats.conf', import.meta.url));
const CREDS = { ingress: ['ingress', 'ingress-dev'], scheduler: ['scheduler', 'scheduler-dev'], agent: ['agent', 'agent-dev'] } as const;

/** Resolves with the first permission error the connection reports. */
function permissionError(nc: NatsConnection): Promise<string> {
  return (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error') return String((s as { error?: unknown }).error);
    }
    return 'closed';
  })();
}

describe('nats.conf - roles and permissions', () => {
  let stack: Stack;
  const scope = cleanupScope();
  before(async () => {
    stack = await startStack(scope, {
      workers: 1,
      nats: { configFile: NATS_CONF },
      credentials: { ingress: [...CREDS.ingress], scheduler: [...CREDS.scheduler], agent: [...CREDS.agent] },
    });
  });
  after(() => scope.run());

  test('nats.conf - an anonymous client is refused', async () => {
    await assert.rejects(connect({ servers: stack.nats.url, reconnect: false }), /Authorization Violation/i);
  });

  test('nats.conf - a wrong password is refused', async () => {
    await assert.rejects(connect({ servers: stack.nats.url, user: 'agent', pass: 'guess', reconnect: false }), /Authorization Violation/i);
  });

  test('nats.conf - the stack works with its role users', async () => {
    const r = await stack.client().chat.completions.create({ model: SIM_MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    assert.equal(r.usage!.completion_tokens, 3);
  });

  test('nats.conf - an agent may not publish a request', async () => {
    const agent = await stack.connect('agent', 'rogue-agent');
    const errored = permissionError(agent);
    const before = stack.schedulers[0]!.counters.accepted + stack.schedulers[0]!.counters.malformedRequests;
    agent.publish(subjects.request(SIM_MODEL), '{}', { reply: 'llm.v1.resp.x.y' });
    assert.match(await errored, /Permissions Violation for Publish to "llm\.v1\.req\./);
    await agent.flush().catch(() => undefined);
    assert.equal(stack.schedulers[0]!.counters.accepted + stack.schedulers[0]!.counters.malformedRequests, before, 'no scheduler saw it');
  });

  test('nats.conf - an ingress may not forge a heartbeat', async () => {
    const ingress = await stack.connect('ingress', 'forger');
    const errored = permissionError(ingress);
    const hb = encodeHeartbeat(heartbeat('forged', { region: 'test', models: [SIM_MODEL], sentAt: Date.now() }));
    ingress.publish(subjects.heartbeat('test', 'forged'), hb);
    assert.match(await errored, /Permissions Violation for Publish to "llm\.v1\.hb\.test\.forged"/);
    assert.equal(stack.schedulers[0]!.registry.get('forged'), undefined);
  });

  test('nats.conf - an agent may not read token streams', async () => {
    const agent = await stack.connect('agent', 'snoop');
    const errored = permissionError(agent);
    agent.subscribe('llm.v1.resp.>');
    assert.match(await errored, /Permissions Violation for Subscription to "llm\.v1\.resp\.>"/);
  });
});
