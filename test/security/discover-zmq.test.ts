// discover-zmq as an attacker meets it: whoever reaches the ROUTER port may send anything. Over
// real ZeroMQ sockets, a real nats-server and simulated workers: an oversized frame, a flood of
// instances, registrations from outside the allow list or naming addresses outside it, CURVE
// clients with and without an allowed key, and a worker whose answers never end. What an
// attacker must not get: a probe of its address (a blind GET from our network), a heartbeat that
// puts its address in front of the schedulers, or our memory.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test, type TestContext } from 'node:test';
import { Writable } from 'node:stream';
import { encode } from '@msgpack/msgpack';
import type { NatsConnection } from '@nats-io/transport-node';
import pino, { type Logger } from 'pino';
import { Agent as UndiciAgent } from 'undici';
import { Context, curveKeyPair, Dealer, Router } from 'zeromq';
import { WorkerAgent } from '../../adapters/agent.ts';
import { validateDiscoverOptions } from '../../adapters/discover-options.ts';
import { routerOptions, ZmqDiscovery, type DiscoverInput } from '../../adapters/discover-zmq.ts';
import { probeWorker } from '../../adapters/worker-probe.ts';
import { decodeHeartbeat } from '../../proto/heartbeat.ts';
import { connectNats } from '../../runtime/nats.ts';
import type { SimWorker } from '../../sim/worker.ts';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.ts';
import { SIM_MODEL, eventually, startSimWorker } from '../helpers/sim.ts';
import { cleanupScope, NATS_CONF } from '../helpers/stack.ts';

const silent = pino({ level: 'silent' });
const MiB = 1024 * 1024;

/** A logger whose JSON lines the test can read. */
function captureLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

/**
 * What an attacker points a registration at: an HTTP listener that answers like a healthy vLLM
 * (so that, were it probed, it would be advertised too) and counts every request that reaches it.
 */
async function trap(t: Pick<TestContext, 'after'>, host = '127.0.0.1'): Promise<{ address: string; url: string; hits: () => number }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    if (req.url === '/v1/models') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: SIM_MODEL, object: 'model' }] }));
    else res.writeHead(200).end('');
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { address, url: `http://${address}`, hits: () => hits };
}

/** A scheduler's view of the bus: every heartbeat, by worker URL. */
function watchHeartbeats(nc: NatsConnection): (url: string) => number {
  const seen = new Map<string, number>();
  nc.subscribe('llm.v1.hb.>', {
    callback: (err, msg) => {
      if (err) return;
      const d = decodeHeartbeat(msg.data);
      if (d.ok) seen.set(d.value.url, (seen.get(d.value.url) ?? 0) + 1);
    },
  });
  return (url) => seen.get(url) ?? 0;
}

/** Resolves when `sock` can take more bytes or is gone, with no listener left behind. */
function drainedOrClosed(sock: Socket): Promise<void> {
  if (sock.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      sock.off('drain', done);
      sock.off('close', done);
      resolve();
    };
    sock.on('drain', done);
    sock.on('close', done);
  });
}

/** Refusals of one reason so far (0 where the bridge keeps no such count, so that waits end on the attack's effect either way). */
function refused(d: ZmqDiscovery, reason: string): number {
  return (d.rejectedBy as Readonly<Record<string, number>> | undefined)?.[reason] ?? 0;
}

type Reg = { type: 'P' | 'D'; http_address: string; zmq_address: string };

/** A registrant we control: a DEALER, optionally from another source address or with CURVE keys. */
function registrant(
  t: Pick<TestContext, 'after'>,
  endpoint: string,
  o: { source?: string; curve?: { serverKey: string; publicKey: string; secretKey: string } } = {},
): { send(r: Reg): Promise<void> } {
  const dealer = new Dealer({
    linger: 0,
    ipv6: endpoint.includes('['),
    ...(o.curve ? { curveServerKey: o.curve.serverKey, curvePublicKey: o.curve.publicKey, curveSecretKey: o.curve.secretKey } : {}),
  });
  dealer.connect(o.source ? endpoint.replace('tcp://', `tcp://${o.source}:0;`) : endpoint);
  t.after(() => dealer.close());
  return {
    send: async (r) => {
      await dealer.send(encode(r));
    },
  };
}

describe('discover-zmq - who may join the fleet', () => {
  let nats: NatsServer;
  let watcher: NatsConnection;
  let heartbeats: (url: string) => number;
  const scope = cleanupScope();

  before(async () => {
    // The shipped nats.conf: the bridge speaks as agent-zmq, the watcher reads as a scheduler.
    nats = await startNatsServer(scope, { configFile: NATS_CONF });
    watcher = await connectNats({ servers: nats.url, user: 'scheduler', password: 'scheduler-dev', name: 'scheduler-view', inboxPrefix: '_INBOX_scheduler' }, silent);
    scope.after(() => watcher.close());
    heartbeats = watchHeartbeats(watcher);
  });
  after(() => scope.run());

  async function startDiscovery(t: Pick<TestContext, 'after'>, o: Partial<DiscoverInput> = {}, log: Logger = silent): Promise<ZmqDiscovery> {
    const nc = await connectNats({ servers: nats.url, user: 'agent-zmq', password: 'agent-zmq-dev', name: 'discover-zmq', inboxPrefix: '_INBOX_agent-zmq' }, silent);
    const agent = new WorkerAgent(nc, { agentId: 'agent-zmq', region: 'test', intervalMs: 100, probeTimeoutMs: 1000, workers: [] }, log);
    await agent.start();
    const discovery = new ZmqDiscovery({ bind: 'tcp://127.0.0.1:*', ttlMs: 5000, ...o }, agent, log);
    await discovery.start();
    t.after(async () => {
      discovery.stop();
      await agent.stop();
      await nc.close();
    });
    return discovery;
  }

  /** A simulated P2P-NCCL instance that registers itself with `endpoint` every 3 s, as vLLM does. */
  function p2pWorker(t: Pick<TestContext, 'after'>, endpoint: string | null): Promise<SimWorker> {
    return startSimWorker(t, { role: 'decode', kvConnector: 'p2p-nccl', p2p: { kvPort: 0, proxy: endpoint, kvWaitMs: 2000 } });
  }

  /** Waits until `url` has been heartbeated `n` more times: everything sent before has long been handled. */
  async function beatsOf(url: string, n: number): Promise<void> {
    const from = heartbeats(url);
    await eventually(() => heartbeats(url) >= from + n, `${n} more heartbeats for ${url}`, 20_000);
  }

  test('discover-zmq - a frame past the size limit disconnects the peer before it is buffered', async (t) => {
    const discovery = await startDiscovery(t);
    const port = Number(/:(\d+)$/.exec(discovery.endpoint)![1]);
    // A ZMTP 3.0 peer by hand, so that the frame exists only on the wire: greeting (NULL
    // mechanism), READY as a DEALER, then the header of a 300 MiB frame and its bytes, streamed.
    const claimed = 300 * MiB;
    const sock: Socket = tcpConnect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    let closed = false;
    sock.on('close', () => (closed = true));
    sock.on('error', () => undefined);
    sock.on('data', () => undefined);
    const greeting = Buffer.alloc(64);
    greeting[0] = 0xff;
    greeting[9] = 0x7f;
    greeting[10] = 3;
    greeting.write('NULL', 12, 'ascii');
    const ready = Buffer.concat([Buffer.from([5]), Buffer.from('READY'), Buffer.from([11]), Buffer.from('Socket-Type'), Buffer.from([0, 0, 0, 6]), Buffer.from('DEALER')]);
    const header = Buffer.alloc(9);
    header[0] = 0x02; // last frame, 8-byte size
    header.writeBigUInt64BE(BigInt(claimed), 1);
    sock.write(Buffer.concat([greeting, Buffer.from([0x04, ready.length]), ready, header]));

    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const chunk = Buffer.alloc(MiB);
    let sent = 0;
    while (!closed && sent < claimed) {
      const flushed = sock.write(chunk);
      sent += chunk.length;
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      if (!flushed) await drainedOrClosed(sock);
    }
    await eventually(() => closed || sent >= claimed, 'the frame is sent or the peer is cut off');
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    sock.destroy();

    assert.ok(closed, 'libzmq disconnected the peer');
    assert.ok(sent < 64 * MiB, `the peer was cut off after ${(sent / MiB).toFixed(0)} MiB of a ${claimed / MiB} MiB frame`);
    assert.ok(rssPeak - rssBefore < 64 * MiB, `memory grew by ${((rssPeak - rssBefore) / MiB).toFixed(0)} MiB`);
    assert.equal(discovery.registry.all().length, 0);

    // A real instance still registers, and is heartbeated.
    const w = await p2pWorker(t, discovery.endpoint);
    await beatsOf(w.url, 1);
  });

  test('discover-zmq - instances past the cap are refused, counted and logged once; known ones refresh', async (t) => {
    const { log, lines } = captureLog();
    const discovery = await startDiscovery(t, { maxInstances: 2 }, log);
    const a = await p2pWorker(t, null);
    const b = await p2pWorker(t, null);
    const extra = await trap(t);
    const relay = registrant(t, discovery.endpoint);
    const regA: Reg = { type: 'D', http_address: `127.0.0.1:${a.port}`, zmq_address: a.p2p!.zmqAddress };
    const regB: Reg = { type: 'P', http_address: `127.0.0.1:${b.port}`, zmq_address: b.p2p!.zmqAddress };
    await relay.send(regA);
    await relay.send(regB);
    await eventually(() => discovery.registry.all().length === 2, 'two instances registered');
    for (let i = 0; i < 50; i++) await relay.send({ type: 'D', http_address: extra.address, zmq_address: '127.0.0.1:1' });
    const expiresA = discovery.registry.get(regA.http_address)!.expiresAt;
    await relay.send(regA); // a refresh of a known instance, after the refusals
    await eventually(() => (discovery.registry.get(regA.http_address)?.expiresAt ?? 0) > expiresA, 'the known instance refreshed');
    await beatsOf(a.url, 3);

    assert.equal(extra.hits(), 0, 'the refused instance was never probed');
    assert.equal(heartbeats(extra.url), 0, 'the refused instance was never heartbeated');
    assert.equal(discovery.registry.get(extra.address), undefined);
    assert.equal(discovery.rejectedBy.capacity, 50);
    assert.equal(lines.filter((l) => l.reason === 'capacity').length, 1, 'the cap is logged once, not per registration');
    assert.ok(heartbeats(b.url) > 0);
  });

  test('discover-zmq - a registration from outside --allow is refused at the handshake, never probed or heartbeated', async (t) => {
    const { log, lines } = captureLog();
    const discovery = await startDiscovery(t, { allow: ['127.0.0.1/32'] }, log);
    const real = await p2pWorker(t, discovery.endpoint);
    await beatsOf(real.url, 1);
    // The attacker's address is inside the list; only where it connects from is not.
    const target = await trap(t, '127.0.0.1');
    for (let i = 0; i < 3; i++) await registrant(t, discovery.endpoint, { source: '127.0.0.2' }).send({ type: 'D', http_address: target.address, zmq_address: '127.0.0.1:1' });
    await eventually(() => refused(discovery, 'source') >= 3 || target.hits() > 0, 'the attacker connected three times');
    await beatsOf(real.url, 3);

    assert.equal(target.hits(), 0, 'no HTTP request reached the attacker-named address');
    assert.equal(heartbeats(target.url), 0, 'no heartbeat for it');
    assert.equal(discovery.registry.get(target.address), undefined);
    assert.ok(discovery.rejectedBy.source >= 3);
    const logged = lines.filter((l) => l.reason === 'source');
    assert.equal(logged.length, 1, 'a refusal reason is logged once per source per minute');
    assert.equal(logged[0]!.source, '127.0.0.2');
  });

  test('discover-zmq - with --allow, addresses outside it or host names are refused even from an allowed source', async (t) => {
    const discovery = await startDiscovery(t, { allow: ['127.0.0.1/32'] });
    const real = await p2pWorker(t, discovery.endpoint);
    await beatsOf(real.url, 1);
    const outside = await trap(t, '127.0.0.3');
    const inside = await trap(t, '127.0.0.1');
    const r = registrant(t, discovery.endpoint);
    await r.send({ type: 'D', http_address: outside.address, zmq_address: '127.0.0.1:1' }); // HTTP outside
    await r.send({ type: 'D', http_address: inside.address, zmq_address: '127.0.0.3:5555' }); // KV pushes outside
    await r.send({ type: 'D', http_address: `localhost:${inside.address.split(':')[1]}`, zmq_address: '127.0.0.1:1' }); // a name, resolved who knows where
    await eventually(() => refused(discovery, 'address') >= 3 || inside.hits() + outside.hits() > 0, 'three registrations handled');
    await beatsOf(real.url, 3);

    assert.equal(outside.hits() + inside.hits(), 0, 'none of them was probed');
    assert.equal(heartbeats(outside.url) + heartbeats(inside.url) + heartbeats(`http://localhost:${inside.address.split(':')[1]}`), 0);
    assert.deepEqual(
      discovery.registry.all().map((i) => i.httpAddress),
      [`127.0.0.1:${real.port}`],
    );
    assert.equal(discovery.rejectedBy.address, 3);
  });

  test('discover-zmq - --allow takes IPv6 CIDRs', async (t) => {
    // The ZeroMQ address stays IPv4: the heartbeat schema takes no bracketed IPv6 `zmqAddress` yet.
    const discovery = await startDiscovery(t, { bind: 'tcp://[::1]:*', allow: ['::1/128', '127.0.0.1/32'] });
    const v6 = await trap(t, '::1');
    await registrant(t, discovery.endpoint).send({ type: 'D', http_address: v6.address, zmq_address: '127.0.0.1:5555' });
    await eventually(() => heartbeats(v6.url) > 0, 'an instance inside an IPv6 CIDR joins');

    const closed = await startDiscovery(t, { bind: 'tcp://[::1]:*', allow: ['fd00::/8'] });
    const outsider = await trap(t, '::1');
    await registrant(t, closed.endpoint).send({ type: 'D', http_address: outsider.address, zmq_address: '127.0.0.1:5555' });
    await eventually(() => refused(closed, 'source') >= 1 || outsider.hits() > 0, 'the registration handled');
    await beatsOf(v6.url, 3);
    assert.equal(outsider.hits(), 0);
    assert.equal(closed.registry.all().length, 0);
  });

  test('discover-zmq - with CURVE, only clients with an allowed key register', async (t) => {
    const server = curveKeyPair();
    const allowed = curveKeyPair();
    const unknown = curveKeyPair();
    const discovery = await startDiscovery(t, { curve: { secretKey: server.secretKey, clients: [{ key: allowed.publicKey, name: 'relay' }] } });
    assert.equal(discovery.curvePublicKey, server.publicKey, 'the public key is derived from the secret key');
    // A relay on the GPU host registers the instance (vLLM itself cannot speak CURVE).
    const w = await p2pWorker(t, null);
    const plain = await trap(t);
    const stranger = await trap(t);
    await registrant(t, discovery.endpoint).send({ type: 'D', http_address: plain.address, zmq_address: '127.0.0.1:1' });
    await registrant(t, discovery.endpoint, { curve: { serverKey: server.publicKey, ...unknown } }).send({ type: 'D', http_address: stranger.address, zmq_address: '127.0.0.1:1' });
    await eventually(() => refused(discovery, 'curve-key') >= 1 || stranger.hits() > 0, 'the unknown key handled');
    await eventually(() => refused(discovery, 'handshake') >= 1 || plain.hits() > 0, 'the plain client failed its handshake');
    await registrant(t, discovery.endpoint, { curve: { serverKey: server.publicKey, ...allowed } }).send({ type: 'D', http_address: `127.0.0.1:${w.port}`, zmq_address: w.p2p!.zmqAddress });
    await beatsOf(w.url, 3);

    assert.equal(plain.hits() + stranger.hits(), 0, 'neither the plain nor the unknown client was probed');
    assert.equal(heartbeats(plain.url) + heartbeats(stranger.url), 0);
    assert.deepEqual(
      discovery.registry.all().map((i) => i.httpAddress),
      [`127.0.0.1:${w.port}`],
    );
    assert.ok(discovery.rejectedBy['curve-key'] >= 1);
  });
});

describe('discover-zmq - the ROUTER fails closed', () => {
  test('discover-zmq - with checks configured and no ZAP handler answering, no peer gets in', async (t) => {
    // libzmq lets every peer in when no ZAP handler is bound, unless told to enforce the domain.
    const received = async (o: Partial<DiscoverInput>): Promise<{ messages: number; refusals: number }> => {
      const router = new Router({ context: new Context(), ...routerOptions(validateDiscoverOptions({ bind: 'tcp://127.0.0.1:*', ttlMs: 5000, ...o })) });
      t.after(() => router.close());
      await router.bind('tcp://127.0.0.1:*');
      let messages = 0;
      let refusals = 0;
      void (async () => {
        for await (const ev of router.events) if (ev.type.startsWith('handshake:error')) refusals++;
      })().catch(() => undefined);
      void (async () => {
        for await (const _ of router) messages++;
      })().catch(() => undefined);
      const dealer = new Dealer({ linger: 0 });
      t.after(() => dealer.close());
      dealer.connect(router.lastEndpoint!);
      await dealer.send(encode({ type: 'D', http_address: '127.0.0.1:1', zmq_address: '127.0.0.1:1' }));
      await eventually(() => messages > 0 || refusals > 0, 'the peer let in or refused');
      return { messages, refusals };
    };
    assert.deepEqual(await received({}), { messages: 1, refusals: 0 }, 'without checks, as before');
    const closed = await received({ allow: ['127.0.0.1/32'] });
    assert.equal(closed.messages, 0, 'a peer inside the allow list is still refused while nothing can vouch for it');
    assert.ok(closed.refusals > 0);
  });
});

describe('discover-zmq - the probe reads a bounded body', () => {
  const scope = cleanupScope();
  after(() => scope.run());

  /**
   * A "worker" whose answers never end (chunked, no length), up to a safety stop far beyond any
   * limit so that a probe without one finishes instead of filling the machine. Reports how much
   * it wrote on each connection before the probe closed it.
   */
  async function endlessWorker(paths: readonly string[]): Promise<{ url: string; written: number[]; requests: () => number }> {
    const written: number[] = [];
    let requests = 0;
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const server = createServer((req, res) => {
      requests++;
      if (!paths.includes(req.url ?? '')) {
        res.writeHead(req.url === '/health' ? 200 : 404).end('');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      let done = false;
      res.on('close', () => {
        done = true;
        written.push(n);
      });
      const pump = (): void => {
        while (!done && n < 512 * MiB) {
          n += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (!done) res.end();
      };
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    scope.after(() => new Promise<void>((r) => server.close(() => r())));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, written, requests: () => requests };
  }

  test('discover-zmq - an endless /health, /metrics or /v1/models is cut off and the probe fails', async () => {
    const w = await endlessWorker(['/health', '/metrics']);
    const http = new UndiciAgent({ connections: 4 });
    scope.after(() => http.close());
    const rss = process.memoryUsage().rss;
    const p = await probeWorker(http, w.url, 60_000, [SIM_MODEL]);
    assert.equal(p.healthy, false, 'a /health answer that never ends is a failed probe');
    assert.equal(p.load, null);
    await eventually(() => w.written.length === 2, 'both connections closed');
    for (const n of w.written) assert.ok(n < 32 * MiB, `the worker wrote ${(n / MiB).toFixed(0)} MiB before the probe hung up`);
    assert.ok(process.memoryUsage().rss - rss < 64 * MiB, 'memory stayed bounded');

    const models = await endlessWorker(['/v1/models']);
    const m = await probeWorker(http, models.url, 60_000, []);
    assert.equal(m.healthy, true);
    assert.deepEqual(m.models, [], 'no model names from an endless /v1/models');
    await eventually(() => models.written.length === 1, 'the /v1/models connection closed');
    assert.ok(models.written[0]! < 32 * MiB);
  });

  test('discover-zmq - a large but bounded /metrics (a few MiB) is still read', async () => {
    // vLLM's /metrics runs to hundreds of KiB with many models and LoRA adapters.
    const filler = `# HELP filler padding\n${'# a comment line of padding, as histograms with many buckets make\n'.repeat(40_000)}`;
    const metrics = `${filler}vllm:num_requests_running{model_name="${SIM_MODEL}"} 3\nvllm:num_requests_waiting{model_name="${SIM_MODEL}"} 1\nvllm:gpu_cache_usage_perc{model_name="${SIM_MODEL}"} 0.5\n`;
    assert.ok(metrics.length > 2 * MiB);
    const server = createServer((req, res) => {
      if (req.url === '/metrics') res.writeHead(200).end(metrics);
      else res.writeHead(200).end('');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    scope.after(() => new Promise<void>((r) => server.close(() => r())));
    const http = new UndiciAgent({ connections: 4 });
    scope.after(() => http.close());
    const p = await probeWorker(http, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, 10_000, []);
    assert.equal(p.healthy, true);
    assert.equal(p.load?.running, 3);
    assert.deepEqual(p.models, [SIM_MODEL]);

    // Past the /metrics limit (4 MiB) the load is unknown; health is still read.
    const huge = createServer((req, res) => {
      if (req.url === '/metrics') res.writeHead(200).end(filler.repeat(3) + metrics);
      else res.writeHead(200).end('');
    });
    await new Promise<void>((r) => huge.listen(0, '127.0.0.1', r));
    scope.after(() => new Promise<void>((r) => huge.close(() => r())));
    const q = await probeWorker(http, `http://127.0.0.1:${(huge.address() as AddressInfo).port}`, 10_000, [SIM_MODEL]);
    assert.equal(q.healthy, true);
    assert.equal(q.load, null);
  });
});
