// The shipped nats.conf gives each principal only what its job needs. Every row below is a
// publish or a subscription some user tries on a real nats-server running that file: what it
// must NOT be able to do is refused by the server (a permission violation), what it may do is
// not. Then the refusals are checked for their effect on a live stack: another ingress's tokens
// are not readable, an ingress cannot drain the fleet, nobody but a scheduler can put bytes
// into a user's answer.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { subjects } from '../../proto/subjects.ts';
import { permissionErrors, violation } from '../helpers/bus-permissions.ts';
import { eventually, SIM_MODEL } from '../helpers/sim.ts';
import { readSse, postJson } from '../helpers/sim-http.ts';
import { cleanupScope, startStack, type BusUser, type Stack } from '../helpers/stack.ts';

type Row = readonly [user: BusUser, op: 'pub' | 'sub', subject: string, allowed: boolean, why: string];

const REQ = subjects.request(SIM_MODEL);
const HB = (agent: string) => subjects.heartbeat('test', agent, 'w1');

const MATRIX: readonly Row[] = [
  // ingress-1: submits requests and cancels as itself, reads only its own streams and inbox.
  ['ingress-1', 'pub', REQ, true, 'submits requests'],
  ['ingress-1', 'pub', subjects.cancel('sched-x', 'ingress-1'), true, 'cancels its own streams'],
  ['ingress-1', 'pub', subjects.schedInfo, true, 'asks for fleet info'],
  ['ingress-1', 'sub', 'llm.v2.resp.ingress-1.>', true, 'reads its own streams'],
  ['ingress-1', 'sub', '_INBOX_ingress-1.>', true, 'its own inbox'],
  ['ingress-1', 'sub', 'llm.v2.resp.>', false, "every ingress's token streams"],
  ['ingress-1', 'sub', 'llm.v2.resp.ingress-2.>', false, "another ingress's token streams"],
  ['ingress-1', 'sub', 'llm.v2.resp.*.*', false, 'token streams by wildcard'],
  ['ingress-1', 'sub', '_INBOX_ingress-2.>', false, "another ingress's inbox"],
  ['ingress-1', 'sub', '_INBOX.>', false, 'the default inbox space'],
  ['ingress-1', 'sub', '>', false, 'everything'],
  ['ingress-1', 'sub', 'llm.v2.req.>', false, "other ingresses' users' prompts"],
  ['ingress-1', 'sub', 'llm.v1.hb.>', false, "the fleet's addresses"],
  ['ingress-1', 'pub', subjects.adminDrain, false, 'drain without the admin token'],
  ['ingress-1', 'pub', subjects.adminWorkers, false, 'the fleet API'],
  ['ingress-1', 'pub', subjects.cancel('sched-x', 'ingress-2'), false, "cancel another ingress's streams"],
  ['ingress-1', 'pub', 'llm.v2.resp.ingress-2.01JANSWER', false, "write into another ingress's answers"],
  ['ingress-1', 'pub', subjects.frames('ingress-1', 'sched-x'), false, 'forge frames into its own streams as a scheduler'],
  ['ingress-1', 'pub', subjects.frames('ingress-2', 'sched-x'), false, "forge frames into another ingress's streams"],
  ['ingress-1', 'pub', 'llm.v1.req.m', false, 'the v1 request subjects (no longer served)'],
  ['ingress-1', 'pub', HB('agent-1'), false, 'forge a heartbeat'],
  ['ingress-1', 'pub', subjects.schedSync, false, "skew the schedulers' load view"],
  ['ingress-1', 'pub', subjects.agentDrain('agent-1'), false, 'drain through an agent'],
  ['ingress-1', 'pub', '$JS.API.STREAM.LIST', false, 'JetStream'],
  ['ingress-1', 'pub', '$KV.LLM_RATELIMIT.0123abcd.r.29000000', true, 'counts rate limits (KV bucket LLM_RATELIMIT)'],
  ['ingress-1', 'pub', '$JS.API.DIRECT.GET.KV_LLM_RATELIMIT.$KV.LLM_RATELIMIT.0123abcd.r.29000000', true, 'reads a rate-limit counter'],
  ['ingress-1', 'pub', '$JS.API.STREAM.DELETE.KV_LLM_RATELIMIT', false, 'delete the rate-limit counters'],
  ['ingress-1', 'pub', '$JS.API.STREAM.PURGE.KV_LLM_RATELIMIT', false, 'reset every rate limit'],
  ['ingress-1', 'pub', '$JS.API.STREAM.INFO.LLM_AUDIT', true, 'checks that the audit stream exists'],
  ['ingress-1', 'pub', '$KV.OTHER.k', false, 'another KV bucket'],
  ['ingress-1', 'pub', 'audit.v1.test.ingress', true, 'audits its requests'],
  ['ingress-1', 'pub', 'audit.v1.test.scheduler', false, "forge a scheduler's decision records"],
  ['ingress-1', 'pub', '$JS.API.STREAM.DELETE.LLM_AUDIT', false, 'delete the audit stream'],
  ['ingress-1', 'pub', '$JS.API.CONSUMER.CREATE.LLM_AUDIT', false, "read the audit stream (other users' prompts)"],
  // scheduler: serves requests and answers them; no prompts injected, no heartbeats, no JetStream admin.
  ['scheduler', 'sub', 'llm.v2.req.>', true, 'takes requests'],
  ['scheduler', 'pub', subjects.frames('ingress-1', 'sched-x'), true, 'answers them in bundles'],
  ['scheduler', 'pub', 'llm.v2.resp.ingress-1._probe', true, 'probes the ingresses it streams to'],
  ['scheduler', 'pub', subjects.agentDrain('agent-1'), true, 'relays drains'],
  ['scheduler', 'sub', 'llm.v2.resp.>', false, 'read token streams'],
  ['scheduler', 'pub', REQ, false, 'inject requests'],
  ['scheduler', 'pub', HB('agent-1'), false, 'forge a heartbeat'],
  ['scheduler', 'pub', subjects.adminDrain, false, 'the fleet API'],
  ['scheduler', 'pub', '$JS.API.STREAM.DELETE.LLM_AUDIT', false, 'delete the audit stream'],
  ['scheduler', 'pub', '$JS.API.STREAM.LIST', false, 'JetStream admin'],
  ['scheduler', 'pub', '$KV.LLM_RATELIMIT.0123abcd.r.29000000', false, 'the rate-limit counters (the ingresses keep them)'],
  ['scheduler', 'pub', 'audit.v1.test.scheduler', true, 'records its decisions'],
  ['scheduler', 'pub', '$JS.API.STREAM.CREATE.LLM_AUDIT', true, 'creates the audit stream'],
  ['scheduler', 'pub', 'audit.v1.test.ingress', false, "forge an ingress's request records"],
  ['scheduler', 'pub', '$JS.API.STREAM.PURGE.LLM_AUDIT', false, 'erase the audit stream'],
  ['scheduler', 'pub', '$JS.API.CONSUMER.CREATE.LLM_AUDIT', false, 'read the audit stream'],
  ['scheduler', 'sub', '_INBOX_ingress-1.>', false, "an ingress's inbox"],
  // agent-1: heartbeats and KV events for its own workers, its own drain commands. Nothing else.
  ['agent-1', 'pub', HB('agent-1'), true, 'beats for its workers'],
  ['agent-1', 'pub', subjects.kvEvents('agent-1', 'w1'), true, 'KV events for its workers'],
  ['agent-1', 'sub', subjects.heartbeatPing, true, 'hears pings'],
  ['agent-1', 'sub', subjects.agentDrain('agent-1'), true, 'hears its drains'],
  ['agent-1', 'pub', HB('agent-2'), false, 'beats as another agent'],
  ['agent-1', 'pub', subjects.kvEvents('agent-2', 'w1'), false, 'KV events as another agent'],
  ['agent-1', 'pub', 'llm.v1.hb.test.w1', false, 'the old two-token heartbeat subject'],
  ['agent-1', 'pub', REQ, false, 'submit requests'],
  ['agent-1', 'pub', 'llm.v2.resp.ingress-1.01JANSWER', false, "write into users' answers"],
  ['agent-1', 'pub', subjects.frames('ingress-1', 'sched-x'), false, "forge frames into users' answers"],
  ['agent-1', 'pub', subjects.schedSync, false, 'skew load'],
  ['agent-1', 'pub', subjects.adminDrain, false, 'the fleet API'],
  ['agent-1', 'pub', subjects.heartbeatPing, false, 'make every agent beat'],
  ['agent-1', 'sub', 'llm.v2.resp.>', false, 'read token streams'],
  ['agent-1', 'sub', 'llm.v2.req.>', false, "read users' prompts"],
  ['agent-1', 'sub', 'llm.v1.hb.>', false, "read the fleet's heartbeats"],
  ['agent-1', 'sub', subjects.agentDrain('agent-2'), false, "another agent's commands"],
  ['agent-1', 'sub', '_INBOX_agent-1.>', false, 'an inbox (agents make no requests)'],
  ['agent-1', 'sub', 'llm.v1.admin.>', false, 'the fleet API'],
  ['agent-1', 'pub', '$KV.LLM_RATELIMIT.0123abcd.r.29000000', false, "spend (or reset) a key's rate limit"],
  ['agent-1', 'pub', 'audit.v1.test.ingress', false, 'forge audit records'],
  ['auditor', 'pub', '$JS.API.CONSUMER.CREATE.LLM_AUDIT', true, 'reads the audit stream'],
  ['auditor', 'sub', '_INBOX_auditor.>', true, 'its own inbox'],
  ['auditor', 'pub', 'audit.v1.test.ingress', false, 'write audit records'],
  ['auditor', 'pub', '$JS.API.STREAM.DELETE.LLM_AUDIT', false, 'delete the audit stream'],
  ['auditor', 'pub', '$JS.API.STREAM.PURGE.LLM_AUDIT', false, 'erase the audit stream'],
  ['auditor', 'pub', '$JS.API.CONSUMER.CREATE.KV_LLM_RATELIMIT', false, 'other streams'],
  ['auditor', 'pub', REQ, false, 'submit requests'],
  ['auditor', 'sub', 'llm.v2.req.>', false, 'read live prompts'],
  ['auditor', 'sub', '_INBOX_ingress-1.>', false, "an ingress's inbox"],
  ['agent-1', 'pub', '$JS.API.DIRECT.GET.KV_LLM_RATELIMIT.$KV.LLM_RATELIMIT.0123abcd.r.29000000', false, 'read rate-limit counters'],
  // admin: the fleet API and nothing else.
  ['admin', 'pub', subjects.adminDrain, true, 'drains'],
  ['admin', 'sub', '_INBOX_admin.>', true, 'gathers answers'],
  ['admin', 'pub', REQ, false, 'submit requests'],
  ['admin', 'sub', 'llm.v2.resp.>', false, 'read token streams'],
  ['admin', 'sub', 'llm.v2.req.>', false, "read users' prompts"],
  ['admin', 'pub', HB('agent-1'), false, 'forge heartbeats'],
];

describe('security - nats.conf roles', () => {
  const scope = cleanupScope();
  let stack: Stack;
  const conns = new Map<BusUser, { nc: NatsConnection; errors: string[] }>();

  before(async () => {
    stack = await startStack(scope, { workers: 1, ingresses: 2 });
    for (const user of new Set(MATRIX.map((r) => r[0]))) {
      const nc = await stack.connect(user, `matrix-${user}`);
      conns.set(user, { nc, errors: permissionErrors(nc) });
    }
  });
  after(() => scope.run());

  test('security - an anonymous client and a wrong password are refused', async () => {
    await assert.rejects(connect({ servers: stack.nats.url, reconnect: false }), /Authorization Violation/i);
    await assert.rejects(connect({ servers: stack.nats.url, user: 'agent-1', pass: 'guess', reconnect: false }), /Authorization Violation/i);
    await assert.rejects(connect({ servers: stack.nats.url, user: 'ingress', pass: 'ingress-dev', reconnect: false }), /Authorization Violation/i);
  });

  for (const [user, op, subject, allowed, why] of MATRIX) {
    test(`security - ${user} ${allowed ? 'may' : 'may NOT'} ${op === 'pub' ? 'publish to' : 'subscribe to'} ${subject} (${why})`, async () => {
      const c = conns.get(user)!;
      if (op === 'pub') c.nc.publish(subject, '{}');
      else c.nc.subscribe(subject, { callback: () => undefined });
      // The server answers a refused operation with -ERR before the flush's PONG.
      await c.nc.flush();
      const want = violation(op, subject);
      if (allowed) {
        await c.nc.flush();
        assert.ok(!c.errors.some((e) => e.includes(want)), `${user} was refused: ${want}`);
      } else {
        await eventually(() => c.errors.some((e) => e.includes(want)), `${user} refused ${op} ${subject}`);
      }
    });
  }

  test('security - ingress-2 cannot read the tokens ingress-1 is streaming', async () => {
    const snoop = await stack.connect('ingress-2', 'snoop');
    const errors = permissionErrors(snoop);
    const seen: string[] = [];
    snoop.subscribe('llm.v2.resp.ingress-1.*', { callback: (e, m) => void (e ? undefined : seen.push(m.subject)) });
    await snoop.flush();
    await eventually(() => errors.some((e) => e.includes(violation('sub', 'llm.v2.resp.ingress-1.*'))), 'refused');
    const r = await postJson(`${stack.url(0)}/v1/completions`, { model: SIM_MODEL, prompt: 'private', max_tokens: 5, stream: true });
    assert.equal(r.status, 200);
    assert.ok((await readSse(r)).done);
    await snoop.flush();
    assert.deepEqual(seen, []);
  });

  test('security - an ingress credential cannot drain a worker (no scheduler hears it)', async () => {
    const ingress = conns.get('ingress-1')!.nc;
    const id = stack.schedulers[0]!.registry.all()[0]!.id;
    ingress.publish(subjects.adminDrain, JSON.stringify({ workerId: id, drain: true }));
    await ingress.flush();
    assert.equal(stack.schedulers[0]!.registry.isAdminDrained(id), false);
    const r = await stack.client().chat.completions.create({ model: SIM_MODEL, messages: [{ role: 'user', content: 'still here' }], max_tokens: 2 });
    assert.equal(r.choices.length, 1);
  });
});
