// The P2P-NCCL discovery bridge: binds the ZeroMQ ROUTER that vLLM instances register with
// (`kv_connector_extra_config.proxy_ip/proxy_port`), keeps who is alive (an instance expires 5 s
// after its last registration), and heartbeats for each live instance through an agent, which
// also polls the instance's /health and /metrics for load — so the scheduler sees P2P-NCCL
// workers like any other, with their ZeroMQ address and role.
//
// A registration decides where users' prompts and the worker API key go, what the agent probes
// and where prefill workers push KV, so the port is a trust boundary: libzmq refuses frames past
// `maxMessageBytes` before buffering them; a ZAP handler refuses connections from outside the
// allow list and, with CURVE, clients whose key is not listed; each registration's addresses
// must lie inside the allow list; and the number of live instances is capped.
import type { Logger } from 'pino';
import { Context, Router } from 'zeromq';
import type { WorkerAgent } from './agent.ts';
import { validateDiscoverOptions, type DiscoverInput, type DiscoverOptions } from './discover-options.ts';
import { RefusalLog } from '../runtime/refusal-log.ts';
import { ZapHandler, type ZapRequest, type ZapVerdict } from './zap-handler.ts';
import { addressesRefusal, decodeRegistration, ZmqRegistry, type Instance } from './zmq-registration.ts';

export type { DiscoverInput } from './discover-options.ts';

export const REFUSAL_REASONS = ['malformed', 'source', 'curve-key', 'mechanism', 'handshake', 'address', 'capacity'] as const;
/**
 * Why a registration or a connection was refused: `malformed` (not a registration), `source`
 * (connected from outside the allow list), `curve-key` (a CURVE key not in the clients file),
 * `mechanism` (not CURVE where CURVE is required), `handshake` (libzmq failed the handshake, e.g.
 * a plain client against CURVE), `address` (an address that is not an IP inside the allow
 * list), `capacity` (a new instance past `maxInstances`).
 */
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** A ZAP domain must be set for libzmq to consult the handler on NULL-mechanism connections. */
const ZAP_DOMAIN = 'llm-router';

export class ZmqDiscovery {
  readonly registry: ZmqRegistry;
  readonly options: Readonly<DiscoverOptions>;
  readonly #agent: WorkerAgent;
  readonly #log: Logger;
  readonly #ids = new Map<string, string>();
  readonly #refusals = new RefusalLog(60_000, 256);
  #socket: Router | null = null;
  #zap: ZapHandler | null = null;
  #sweeper: NodeJS.Timeout | null = null;
  #capLogged = false;
  /** Messages that got past the handshake. */
  received = 0;
  /** Registrations taken (new, changed or refreshed instances). */
  accepted = 0;
  readonly rejectedBy: Record<RefusalReason, number> = Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>;
  /** The bound endpoint (a port of 0 or `*` resolved). */
  endpoint = '';

  /** Throws a RangeError for invalid options. */
  constructor(o: DiscoverInput, agent: WorkerAgent, log: Logger) {
    this.options = validateDiscoverOptions(o);
    this.#agent = agent;
    this.#log = log;
    this.registry = new ZmqRegistry(this.options.ttlMs, this.options.maxInstances);
  }

  /** Refusals of every reason. */
  get rejected(): number {
    return REFUSAL_REASONS.reduce((n, r) => n + this.rejectedBy[r], 0);
  }

  /** The server's CURVE public key (what registrants set as their server key), when CURVE is on. */
  get curvePublicKey(): string | null {
    return this.options.curve?.publicKey ?? null;
  }

  async start(): Promise<void> {
    const o = this.options;
    // A context of our own: its ZAP endpoint is ours alone, whatever else runs in the process.
    const context = new Context();
    if (o.allow || o.curve) {
      this.#zap = new ZapHandler(
        context,
        { allow: o.allow, curveClients: o.curve?.clients ?? null },
        (req, v) => this.#onZap(req, v),
        (e) => this.#log.error({ err: e.message }, 'the ZAP handler failed: every new registrant is refused until discover-zmq restarts'),
      );
      await this.#zap.start();
    }
    const sock = new Router({ context, ...routerOptions(o) });
    try {
      await sock.bind(o.bind);
    } catch (e) {
      sock.close();
      this.#zap?.stop();
      this.#zap = null;
      throw e;
    }
    this.#socket = sock;
    this.endpoint = sock.lastEndpoint ?? o.bind;
    this.#sweeper = setInterval(() => this.#sweep(), Math.max(100, Math.floor(o.ttlMs / 5)));
    void this.#receive(sock);
    void this.#watchHandshakes(sock);
    this.#log.info(
      { endpoint: this.endpoint, allow: o.allow?.cidrs ?? null, curve: o.curve ? { publicKey: o.curve.publicKey, clients: o.curve.clients.size } : null, maxInstances: o.maxInstances },
      'listening for P2P-NCCL registrations',
    );
    if (!o.allow && !o.curve) {
      this.#log.warn(
        { endpoint: this.endpoint },
        "no --allow: anyone who reaches this port can register an instance and join the fleet (it would receive users' prompts and the worker API key); set --allow to the GPU hosts' CIDRs",
      );
    } else if (!o.allow) {
      this.#log.warn({ endpoint: this.endpoint }, "no --allow: a CURVE client may register any address, which is then probed and sent traffic; set --allow to the GPU hosts' CIDRs");
    }
  }

  stop(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
    const sock = this.#socket;
    this.#socket = null;
    sock?.close();
    this.#zap?.stop();
    this.#zap = null;
  }

  async #receive(sock: Router): Promise<void> {
    try {
      for await (const frames of sock) {
        this.received++;
        const peer = peerName(frames[0]);
        const payload = frames[frames.length - 1];
        if (!payload || frames.length < 2) {
          this.#refuse('malformed', peer, `${frames.length} frame(s)`);
          continue;
        }
        const r = decodeRegistration(payload);
        if (!r.ok) {
          this.#refuse('malformed', peer, r.reason);
          continue;
        }
        const wrong = addressesRefusal(r.value, this.options.allow);
        if (wrong) {
          this.#refuse('address', peer, wrong);
          continue;
        }
        const what = this.registry.register(r.value, Date.now());
        if (what === 'full') {
          this.#refuseOverCap(r.value.httpAddress);
          continue;
        }
        this.accepted++;
        if (what !== 'refreshed') this.#track(this.registry.get(r.value.httpAddress)!, what);
      }
    } catch (e) {
      if (this.#socket) this.#log.error({ err: (e as Error).message }, 'discovery socket failed');
    }
  }

  /** libzmq's own handshake failures (a plain client against CURVE, a broken peer): counted, logged rarely. */
  async #watchHandshakes(sock: Router): Promise<void> {
    try {
      for await (const ev of sock.events) {
        if (ev.type === 'handshake:error:protocol' || ev.type === 'handshake:error:other') this.#refuse('handshake', 'unknown peer', ev.error.message);
      }
    } catch {
      // the socket closed
    }
  }

  #onZap(req: ZapRequest | null, v: ZapVerdict): void {
    if (v.ok) {
      this.#log.debug({ source: req?.address, user: v.user }, 'registrant connected');
      return;
    }
    this.#refuse(v.reason, req?.address ?? 'unknown', v.detail);
  }

  #refuse(reason: Exclude<RefusalReason, 'capacity'>, source: string, detail: string): void {
    this.rejectedBy[reason]++;
    const d = this.#refusals.note(reason, source, Date.now());
    if (d.log)
      this.#log.warn(
        { reason, source: d.source, detail, suppressed: d.suppressed },
        `P2P-NCCL registration refused (${reason}); further refusals for this reason and source are not logged for a minute`,
      );
  }

  /** Logged once when the cap is reached, again only after it has had room. */
  #refuseOverCap(httpAddress: string): void {
    this.rejectedBy.capacity++;
    if (this.#capLogged) return;
    this.#capLogged = true;
    this.#log.warn(
      { reason: 'capacity', maxInstances: this.options.maxInstances, first: httpAddress },
      'P2P-NCCL instance cap reached: registrations of new instances are refused (and counted) until one expires; raise --max-instances if the fleet is this large',
    );
  }

  #track(i: Instance, what: 'added' | 'changed'): void {
    const old = this.#ids.get(i.httpAddress);
    if (old) this.#agent.removeWorker(old);
    const id = this.#agent.addWorker({
      url: `http://${i.httpAddress}`,
      role: i.type === 'P' ? 'prefill' : 'decode',
      connector: 'p2p-nccl',
      zmqAddress: i.zmqAddress,
      models: this.options.models,
    });
    this.#ids.set(i.httpAddress, id);
    this.#log.info({ workerId: id, type: i.type, http: i.httpAddress, zmq: i.zmqAddress, what }, 'P2P-NCCL instance registered');
  }

  #sweep(): void {
    for (const i of this.registry.expire(Date.now())) {
      const id = this.#ids.get(i.httpAddress);
      this.#ids.delete(i.httpAddress);
      if (id) this.#agent.removeWorker(id);
      this.#log.warn({ workerId: id, http: i.httpAddress }, `P2P-NCCL instance expired: no registration for ${this.options.ttlMs / 1000} s`);
    }
    if (!this.registry.full) this.#capLogged = false;
  }
}

/**
 * The ROUTER's socket options. With checks on, the ZAP domain makes libzmq ask the handler about
 * every connection, and `zapEnforceDomain` makes it refuse connections when the handler is gone
 * (by default libzmq then lets everyone in, CURVE clients with any key included).
 */
export function routerOptions(o: Readonly<DiscoverOptions>): NonNullable<ConstructorParameters<typeof Router>[0]> {
  const checked = o.allow !== null || o.curve !== null;
  return {
    maxMessageSize: o.maxMessageBytes,
    // Past this many unread messages libzmq stops reading that peer's socket: a fast sender
    // costs at most this many frames of buffer, not whatever it can push.
    receiveHighWaterMark: 100,
    ipv6: /^tcp:\/\/\[/.test(o.bind),
    ...(checked ? { zapDomain: ZAP_DOMAIN, zapEnforceDomain: true } : {}),
    ...(o.curve ? { curveServer: true, curveSecretKey: o.curve.secretKey } : {}),
  };
}

/** A peer's routing id for logs: vLLM sets it to its ZeroMQ address; libzmq's own are 5 binary bytes. */
function peerName(id: Buffer | undefined): string {
  if (!id) return 'unknown';
  const text = id.subarray(0, 64).toString('latin1');
  return /^[\x21-\x7e]+$/.test(text) ? `id ${text}` : `id 0x${id.subarray(0, 32).toString('hex')}`;
}
