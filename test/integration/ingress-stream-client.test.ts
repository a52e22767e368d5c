// The stream protocol's enforcer on the ingress side, over a real nats-server with the shipped
// nats.conf: the test plays the scheduler (its user may publish on llm.v2.resp.>) and sends
// bundles of frames to the ingress. A gap, a second `accepted`, data before `accepted`, a frame
// from a scheduler that did not accept, a malformed frame or bundle, silence past the idle
// timeout, a dead scheduler each end the stream with a coded error (and a cancel to the scheduler when one accepted); a stream cancelled before any
// scheduler accepted it gets its cancel once one does.
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { isNoResponders, StreamClient, type StreamClientOptions } from '../../ingress/stream-client.ts';
import { errors, type RouterError } from '../../proto/errors.ts';
import { BundleEncoder, encodeHead, encodeJson, type Frame, type Kind } from '../../proto/stream.ts';
import { subjects } from '../../proto/subjects.ts';
import { newId } from '../../runtime/ids.ts';
import { connectNats, natsHeaders } from '../../runtime/nats.ts';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.ts';
import { eventually } from '../helpers/sim.ts';
import { cleanupScope, NATS_CONF } from '../helpers/stack.ts';

const INGRESS = 'ingress-1';
const SCHED = 'sched-a';
/** Requests on this model reach the test's scheduler; on any other, nobody listens. */
const MODEL = 'sim-model';
const log = pino({ level: 'silent' });

/** A stream as its handlers saw it. */
interface Opened {
  readonly id: string;
  readonly frames: Frame[];
  /** The first failure, once there is one. */
  readonly failed: Promise<RouterError>;
  /** Frames or failure that ended the stream. */
  readonly ended: Promise<void>;
}

describe('ingress stream client', () => {
  const scope = cleanupScope();
  let server: NatsServer;
  let sched: NatsConnection;
  let ingressNc: NatsConnection;
  /** Requests the test's scheduler received, oldest first, and waiters for the next ones. */
  const requests: Msg[] = [];
  /** Cancels received on llm.v1.cancel.sched-a.ingress-1: the stream ids. */
  const cancels: string[] = [];

  const connect = async (user: string): Promise<NatsConnection> => {
    const nc = await connectNats({ servers: server.url, user, password: `${user}-dev`, name: `test-${user}`, inboxPrefix: `_INBOX_${user}` }, log);
    scope.after(() => nc.close());
    return nc;
  };

  before(async () => {
    server = await startNatsServer(scope, { configFile: NATS_CONF });
    sched = await connect('scheduler');
    ingressNc = await connect(INGRESS);
    sched.subscribe(`llm.v2.req.${MODEL}`, { callback: (_e, m) => void requests.push(m) });
    sched.subscribe(`llm.v1.cancel.${SCHED}.${INGRESS}`, {
      callback: (_e, m) => {
        if (m.reply)
          m.respond(); // a liveness probe: alive
        else cancels.push(m.string());
      },
    });
    await sched.flush();
  });
  after(() => scope.run());

  async function client(t: TestContext, o: Partial<StreamClientOptions> = {}): Promise<StreamClient> {
    const c = new StreamClient(ingressNc, INGRESS, { acceptTimeoutMs: 5000, idleTimeoutMs: 30_000, probeIntervalMs: 60_000, ...o }, log);
    await c.start();
    t.after(() => c.stop());
    return c;
  }

  function open(c: StreamClient, model = MODEL): Opened {
    const id = newId();
    const frames: Frame[] = [];
    let fail!: (e: RouterError) => void;
    const failed = new Promise<RouterError>((r) => (fail = r));
    let end!: () => void;
    const ended = new Promise<void>((r) => (end = r));
    c.submit(
      id,
      {
        frame: (f) => {
          frames.push(f);
          if (f.kind === 'end' || f.kind === 'error') end();
        },
        fail: (e) => {
          fail(e);
          end();
        },
      },
      `llm.v2.req.${model}`,
      encodeJson({ model }),
      natsHeaders({ 'Llm-Request-Id': id }),
      (e) => errors.LLMR_ERR_BUS_UNAVAILABLE(String(e)),
    );
    return { id, frames, failed, ended };
  }

  /** The request message the test's scheduler got for stream `id`. */
  async function received(id: string): Promise<Msg> {
    await eventually(() => requests.some((m) => m.reply?.endsWith(`.${id}`)), `the scheduler received stream ${id}`);
    return requests.find((m) => m.reply?.endsWith(`.${id}`))!;
  }

  /** The stream id of a request the test's scheduler received. */
  const streamOf = (m: Msg): string => m.reply!.slice(m.reply!.lastIndexOf('.') + 1);

  /** Sends one frame of the stream `to` belongs to, in a bundle of its own, as scheduler `from`. */
  function send(to: Msg, kind: Kind, seq: number, payload: Uint8Array = new Uint8Array(0), from = SCHED): void {
    const e = new BundleEncoder();
    e.add(streamOf(to), kind, seq, payload);
    sched.publish(subjects.frames(INGRESS, from), e.take());
  }

  const head = (): Uint8Array => encodeHead(200, 'text/event-stream', 'w-1');

  /**
   * Everything either side published so far has been delivered: a round trip on each connection,
   * the publisher's first. Once the server has answered the scheduler's ping it has routed what
   * the scheduler sent before it, and the ingress's ping comes back behind those messages.
   */
  async function settle(): Promise<void> {
    await sched.flush();
    await ingressNc.flush();
    await sched.flush();
  }

  test('ingress stream client - a well-formed stream is delivered in order and closed by its end', async (t) => {
    const c = await client(t);
    const s = open(c);
    const m = await received(s.id);
    send(m, 'accepted', 0);
    send(m, 'head', 1, head());
    send(m, 'data', 2, new TextEncoder().encode('data: x\n\n'));
    send(m, 'end', 3, encodeJson({ usage: { promptTokens: 1, completionTokens: 1 } }));
    await s.ended;
    assert.deepEqual(
      s.frames.map((f) => [f.kind, f.seq]),
      [
        ['accepted', 0],
        ['head', 1],
        ['data', 2],
        ['end', 3],
      ],
    );
    assert.equal(c.openStreams, 0);
    assert.equal(c.protocolErrors, 0);
  });

  const violations: { name: string; frames: (m: Msg) => void; why: RegExp; accepted: boolean }[] = [
    {
      name: 'a sequence gap',
      frames: (m) => {
        send(m, 'accepted', 0);
        send(m, 'data', 2, new Uint8Array([1]));
      },
      why: /frame 2 arrived when 1 was due/,
      accepted: true,
    },
    {
      name: 'a second accepted',
      frames: (m) => {
        send(m, 'accepted', 0);
        send(m, 'accepted', 1, undefined, 'sched-b');
      },
      why: /second accepted frame/,
      accepted: true,
    },
    {
      name: 'data before accepted',
      frames: (m) => send(m, 'data', 0, new Uint8Array([1])),
      why: /data before accepted/,
      accepted: false,
    },
    {
      name: 'a head before accepted',
      frames: (m) => send(m, 'head', 0, head()),
      why: /head before accepted/,
      accepted: false,
    },
    {
      name: 'a malformed frame',
      frames: (m) => {
        send(m, 'accepted', 0);
        send(m, 'end', 1, new TextEncoder().encode('"not an object"'));
      },
      why: /malformed frame: end with a body that is not a JSON object/,
      accepted: true,
    },
    {
      name: 'a frame from a scheduler that did not accept the stream',
      frames: (m) => {
        send(m, 'accepted', 0);
        send(m, 'head', 1, head(), 'sched-b');
      },
      why: /head from sched-b, which did not accept the stream/,
      accepted: true,
    },
    {
      name: 'a truncated bundle from the scheduler that accepted',
      frames: (m) => {
        send(m, 'accepted', 0);
        const e = new BundleEncoder();
        e.add(streamOf(m), 'data', 1, new TextEncoder().encode('data: x\n\n'));
        const b = e.take();
        sched.publish(subjects.frames(INGRESS, SCHED), b.subarray(0, b.length - 3));
      },
      why: /malformed bundle: frame longer than its bundle/,
      accepted: true,
    },
  ];

  for (const v of violations) {
    test(`ingress stream client - ${v.name} ends the stream with LLMR_ERR_STREAM_BROKEN${v.accepted ? ' and a cancel to its scheduler' : ''}`, async (t) => {
      const c = await client(t);
      const s = open(c);
      const m = await received(s.id);
      v.frames(m);
      const e = await s.failed;
      assert.equal(e.code, 'LLMR_ERR_STREAM_BROKEN');
      assert.match(e.message, v.why);
      assert.equal(c.protocolErrors, 1);
      assert.equal(c.openStreams, 0);
      if (v.accepted) await eventually(() => cancels.includes(s.id), 'the scheduler that accepted is told to stop');
      else {
        await settle();
        assert.ok(!cancels.includes(s.id), 'no scheduler accepted: nobody to tell');
      }
      // Whatever follows belongs to no stream.
      const strays = c.strayFrames;
      send(m, 'end', 9);
      await settle();
      assert.equal(c.strayFrames, strays + 1);
      assert.deepEqual(
        s.frames.map((f) => f.kind),
        v.accepted ? ['accepted'] : [],
      );
    });
  }

  test("ingress stream client - anything but NATS's no-responders on a stream's reply subject is a stray, never a frame", async (t) => {
    const c = await client(t);
    const s = open(c);
    const m = await received(s.id);
    const strays = c.strayFrames;
    sched.publish(m.reply!, 'garbage');
    sched.publish(m.reply!, new Uint8Array(0), { headers: natsHeaders({ 'Llm-Kind': 'accepted' }) });
    sched.publish(subjects.response(INGRESS, 'NOSUCHSTREAM'), 'garbage');
    await settle();
    assert.equal(c.strayFrames, strays + 3);
    assert.equal(c.openStreams, 1, 'the stream is untouched');
    send(m, 'accepted', 0);
    send(m, 'error', 1, encodeJson({ code: 'LLMR_ERR_NO_WORKER', status: 503, message: 'none' }));
    await s.ended;
    assert.deepEqual(
      s.frames.map((f) => f.kind),
      ['accepted', 'error'],
    );
  });

  test('ingress stream client - silence past the idle timeout is LLMR_ERR_STREAM_IDLE, and the scheduler is told to stop', async (t) => {
    const c = await client(t, { idleTimeoutMs: 300 });
    const s = open(c);
    const m = await received(s.id);
    send(m, 'accepted', 0);
    send(m, 'head', 1, head());
    const e = await s.failed;
    assert.equal(e.code, 'LLMR_ERR_STREAM_IDLE');
    assert.equal(e.statusCode, 504);
    assert.match(e.message, /300 ms/);
    await eventually(() => cancels.includes(s.id), 'the scheduler is told to stop');
    assert.equal(c.openStreams, 0);
  });

  test('ingress stream client - a request no scheduler accepts in time is LLMR_ERR_NO_SCHEDULER', async (t) => {
    const c = await client(t, { acceptTimeoutMs: 300 });
    const s = open(c);
    await received(s.id); // delivered, never accepted
    const e = await s.failed;
    assert.equal(e.code, 'LLMR_ERR_NO_SCHEDULER');
    assert.equal(isNoResponders(e), false, 'a scheduler was there: this is no "no responders"');
  });

  test('ingress stream client - a request nobody subscribes to fails at once as "no responders"', async (t) => {
    const c = await client(t, { acceptTimeoutMs: 60_000 });
    const s = open(c, 'no-such-model');
    const e = await s.failed;
    assert.equal(e.code, 'LLMR_ERR_NO_SCHEDULER');
    assert.ok(isNoResponders(e));
    assert.equal(c.noResponders, 1);
  });

  test('ingress stream client - a stream cancelled before it was accepted: the cancel goes to the scheduler once it accepts', async (t) => {
    const c = await client(t);
    const s = open(c);
    const m = await received(s.id);
    c.cancel(s.id);
    assert.equal(c.openStreams, 0);
    await settle();
    assert.ok(!cancels.includes(s.id), 'no scheduler is known yet');
    send(m, 'accepted', 0);
    await eventually(() => cancels.includes(s.id), 'the accepting scheduler is told to stop');
    assert.deepEqual(s.frames, [], 'nothing reaches the handlers');
    const strays = c.strayFrames;
    send(m, 'head', 1, head());
    await settle();
    assert.equal(c.strayFrames, strays + 1, 'the stream is forgotten once its cancel went out');
  });

  test('ingress stream client - a stream cancelled within its turn is never published', async (t) => {
    const c = await client(t);
    const s = open(c);
    c.cancel(s.id);
    await new Promise((r) => setImmediate(r));
    await settle();
    assert.ok(!requests.some((m) => m.reply?.endsWith(`.${s.id}`)));
  });

  test('ingress stream client - a scheduler that stops answering probes has its streams failed with LLMR_ERR_STREAM_BROKEN', async (t) => {
    const c = await client(t, { probeIntervalMs: 100 });
    const alive = open(c);
    const dead = open(c);
    send(await received(alive.id), 'accepted', 0);
    // Nobody listens on sched-gone's cancel subject: its probe gets "no responders".
    send(await received(dead.id), 'accepted', 0, undefined, 'sched-gone');
    const e = await dead.failed;
    assert.equal(e.code, 'LLMR_ERR_STREAM_BROKEN');
    assert.match(e.message, /scheduler sched-gone is gone/);
    assert.equal(c.openStreams, 1, "the live scheduler's stream stays open");
  });

  test('ingress stream client - stopping fails open streams with LLMR_ERR_SHUTTING_DOWN and tells their schedulers', async (t) => {
    const c = await client(t);
    const s = open(c);
    send(await received(s.id), 'accepted', 0);
    await eventually(() => s.frames.length === 1, 'accepted');
    await c.stop();
    assert.equal((await s.failed).code, 'LLMR_ERR_SHUTTING_DOWN');
    await eventually(() => cancels.includes(s.id), 'the scheduler is told to stop');
  });
});
