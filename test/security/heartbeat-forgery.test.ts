// A forged heartbeat must not take a worker over. On the shipped nats.conf (agent-1 speaks for
// the stack's workers; agent-2 is another, honest-looking agent whose credential an attacker
// holds), every way a beat could redirect users' prompts — and the worker API key sent with
// them — to an address of the attacker's is refused, counted, and changes nothing: the
// attacker's HTTP server never receives a request.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeHeartbeat, type Heartbeat } from '../../proto/heartbeat.ts';
import { subjects } from '../../proto/subjects.ts';
import { parseAllowList } from '../../runtime/address-allow.ts';
import { HEARTBEAT_LIMIT_DEFAULTS } from '../../scheduler/heartbeat-admission.ts';
import { SCHEDULER_DEFAULTS } from '../../scheduler/options.ts';
import { heartbeat } from '../helpers/fixtures.ts';
import { eventually, SIM_MODEL } from '../helpers/sim.ts';
import { find } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type Stack } from '../helpers/stack.ts';
import { permissionErrors, violation } from '../helpers/bus-permissions.ts';

const API_KEY = 'worker-secret-key';

describe('security - forged heartbeats', () => {
  const scope = cleanupScope();
  let stack: Stack;
  let victim: string;
  let victimUrl: string;
  let attackerUrl: string;
  const stolen: IncomingMessage[] = [];
  let agent2: NatsConnection;
  let agent1: NatsConnection;

  before(async () => {
    const attacker = createServer((req, res) => {
      stolen.push(req);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
    scope.after(() => new Promise<void>((r) => attacker.close(() => r())));
    attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
    stack = await startStack(scope, { workers: 1, schedulers: 0 });
    // The scheduler sends the worker API key, as in production: a takeover would steal it.
    await stack.addScheduler({ upstream: { ...SCHEDULER_DEFAULTS.upstream, connectTimeoutMs: 1000, headersTimeoutMs: 30_000, bodyTimeoutMs: 30_000, workerApiKey: API_KEY } });
    await stack.waitForWorkers(1);
    const w = stack.schedulers[0]!.registry.candidates(SIM_MODEL, 'whole')[0]!;
    victim = w.id;
    victimUrl = w.url;
    agent2 = await stack.connect('agent-2', 'forger');
    agent1 = await stack.connect('agent-1', 'compromised-agent-1');
  });
  after(() => scope.run());

  const beat = (over: Partial<Heartbeat>): Heartbeat => heartbeat(victim, { region: 'test', models: [SIM_MODEL], sentAt: Date.now(), seq: 1, intervalMs: 200, ...over });
  const counted = async (result: string, sched = stack.schedulers[0]!): Promise<number> =>
    find(await sched.metrics.registry.metrics(), 'llm_router_heartbeats_total', { result }).reduce((n, s) => n + s.value, 0);
  const refused = counted;

  async function assertUntouched(): Promise<void> {
    const sched = stack.schedulers[0]!;
    const w = sched.registry.get(victim)!;
    assert.equal(w.url, victimUrl, 'the worker keeps its URL');
    assert.equal(w.agent, 'agent-1', 'the worker stays bound to its agent');
    for (let i = 0; i < 4; i++) {
      const r = await stack.client().chat.completions.create({ model: SIM_MODEL, messages: [{ role: 'user', content: `hello ${i}` }], max_tokens: 2 });
      assert.equal(r.choices.length, 1);
    }
    assert.equal(stolen.length, 0, 'the attacker received no request (and no API key)');
  }

  /** One beat for the victim from `as`, refused for one of `results`; then nothing changed. */
  async function forgeAndCheck(as: 'agent-1' | 'agent-2', over: Partial<Heartbeat>, results: readonly string[]): Promise<void> {
    const nc = as === 'agent-1' ? agent1 : agent2;
    const sum = async () => (await Promise.all(results.map((r) => refused(r)))).reduce((a, b) => a + b, 0);
    const before = await sum();
    nc.publish(subjects.heartbeat('test', as, victim), encodeHeartbeat(beat({ agent: as, url: attackerUrl, ...over })));
    await nc.flush();
    await eventually(async () => (await sum()) > before, `refused as ${results.join(' or ')} and counted`);
    await assertUntouched();
  }

  test("security - the issue's attack: another agent announces a live worker at its own URL, far in the future, with a long interval", async () => {
    await forgeAndCheck('agent-2', { sentAt: Date.now() + 30 * 60_000, intervalMs: 600_000, seq: 1_000_000 }, ['conflict', 'future', 'interval']);
  });

  test("security - a live worker id is bound to its agent: another agent's sane-looking beat is a conflict", async () => {
    await forgeAndCheck('agent-2', {}, ['conflict']);
  });

  test('security - a live worker id is bound to its URL: even its own agent cannot move it while it lives', async () => {
    await forgeAndCheck('agent-1', {}, ['conflict']);
  });

  test("security - an agent cannot publish under another agent's id (the bus refuses it; no scheduler sees it)", async () => {
    // A beat that agent-1 itself could send (its worker, its URL) saying the worker is unhealthy:
    // were it delivered, the worker would leave service. The bus must not route it at all.
    const errors = permissionErrors(agent2);
    const subject = subjects.heartbeat('test', 'agent-1', victim);
    agent2.publish(subject, encodeHeartbeat(beat({ agent: 'agent-1', url: victimUrl, state: 'unhealthy', sentAt: Date.now() + 1, seq: 1_000_000 })));
    await agent2.flush();
    await eventually(() => errors.some((e) => e.includes(violation('pub', subject))), 'permission violation');
    assert.equal(stack.schedulers[0]!.registry.get(victim)?.state, 'ready');
    await assertUntouched();
  });

  test('security - the payload must name the agent of its subject', async () => {
    const before = await refused('subject_mismatch');
    agent2.publish(subjects.heartbeat('test', 'agent-2', victim), encodeHeartbeat(beat({ agent: 'agent-1', url: attackerUrl })));
    await agent2.flush();
    await eventually(async () => (await refused('subject_mismatch')) > before, 'mismatch counted');
    await assertUntouched();
  });

  test('security - a new worker sent from the future, or with an interval beyond the bound, is refused', async () => {
    const sched = stack.schedulers[0]!;
    const future = await refused('future');
    const interval = await refused('interval');
    const fresh = (id: string, over: Partial<Heartbeat>) => encodeHeartbeat(heartbeat(id, { region: 'test', agent: 'agent-2', models: [SIM_MODEL], url: attackerUrl, sentAt: Date.now(), ...over }));
    agent2.publish(subjects.heartbeat('test', 'agent-2', 'from-the-future'), fresh('from-the-future', { sentAt: Date.now() + HEARTBEAT_LIMIT_DEFAULTS.maxClockSkewMs + 60_000 }));
    agent2.publish(subjects.heartbeat('test', 'agent-2', 'immortal'), fresh('immortal', { intervalMs: HEARTBEAT_LIMIT_DEFAULTS.maxIntervalMs + 1 }));
    await agent2.flush();
    await eventually(async () => (await refused('future')) > future && (await refused('interval')) > interval, 'both refused and counted');
    assert.equal(sched.registry.get('from-the-future'), undefined);
    assert.equal(sched.registry.get('immortal'), undefined);
  });

  test('security - a worker id is free again once its binding lapses (missed beats), so an agent can move its own worker', async () => {
    // A worker only agent-2 knows: it announces it, goes quiet, and announces it elsewhere later.
    const sched = stack.schedulers[0]!;
    const id = 'movable';
    const at = (url: string, seq: number) => encodeHeartbeat(heartbeat(id, { region: 'test', agent: 'agent-2', models: ['other-model'], url, sentAt: Date.now(), seq, intervalMs: 500 }));
    agent2.publish(subjects.heartbeat('test', 'agent-2', id), at('http://127.0.0.1:9', 1));
    await agent2.flush();
    await eventually(() => sched.registry.get(id) !== undefined, 'announced');
    await eventually(() => sched.registry.get(id) === undefined, 'dropped after missed beats');
    agent2.publish(subjects.heartbeat('test', 'agent-2', id), at('http://127.0.0.1:10', 2));
    await agent2.flush();
    await eventually(() => sched.registry.get(id)?.url === 'http://127.0.0.1:10', 'announced at its new URL');
  });

  test('security - --worker-allow: workers outside the networks, or named by host name, never receive traffic', async () => {
    const guarded = await stack.addScheduler({
      id: 'sched-guarded',
      heartbeat: { ...HEARTBEAT_LIMIT_DEFAULTS, workerAllow: parseAllowList('127.0.0.0/8,::1/128') },
    });
    const before = await counted('not_allowed', guarded);
    const at = (id: string, url: string, zmqAddress?: string) =>
      encodeHeartbeat(heartbeat(id, { region: 'test', agent: 'agent-2', models: [SIM_MODEL], url, sentAt: Date.now(), connector: zmqAddress ? { kind: 'p2p-nccl', zmqAddress } : { kind: 'none' } }));
    agent2.publish(subjects.heartbeat('test', 'agent-2', 'outside'), at('outside', 'http://203.0.113.7:8000'));
    agent2.publish(subjects.heartbeat('test', 'agent-2', 'by-name'), at('by-name', 'http://localhost:8000'));
    agent2.publish(subjects.heartbeat('test', 'agent-2', 'kv-outside'), at('kv-outside', 'http://127.0.0.1:8000', '203.0.113.7:21001'));
    await agent2.flush();
    await eventually(async () => (await counted('not_allowed', guarded)) >= before + 3, 'three refused');
    for (const id of ['outside', 'by-name', 'kv-outside']) assert.equal(guarded.registry.get(id), undefined, id);
    // The real worker is inside the networks and keeps serving.
    await eventually(() => guarded.registry.get(victim) !== undefined, 'the real worker is known to the guarded replica');
  });
});
