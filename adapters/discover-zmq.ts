// The P2P-NCCL discovery bridge: binds the ZeroMQ ROUTER that vLLM instances register with
// (`kv_connector_extra_config.proxy_ip/proxy_port`), keeps who is alive (an instance expires 5 s
// after its last registration), and heartbeats for each live instance through an agent, which
// also polls the instance's /health and /metrics for load — so the scheduler sees P2P-NCCL
// workers like any other, with their ZeroMQ address and role.
import type { Logger } from 'pino';
import { Router } from 'zeromq';
import type { WorkerAgent } from './agent.ts';
import { decodeRegistration, ZmqRegistry, type Instance } from './zmq-registration.ts';

export interface DiscoverOptions {
  /** `tcp://0.0.0.0:30001`. */
  readonly bind: string;
  readonly ttlMs: number;
  readonly models?: readonly string[] | undefined;
}

export class ZmqDiscovery {
  readonly registry: ZmqRegistry;
  readonly #o: DiscoverOptions;
  readonly #agent: WorkerAgent;
  readonly #log: Logger;
  readonly #ids = new Map<string, string>();
  #socket: Router | null = null;
  #sweeper: NodeJS.Timeout | null = null;
  received = 0;
  rejected = 0;
  /** The bound endpoint (a port of 0 or `*` resolved). */
  endpoint = '';

  constructor(o: DiscoverOptions, agent: WorkerAgent, log: Logger) {
    this.#o = o;
    this.#agent = agent;
    this.#log = log;
    this.registry = new ZmqRegistry(o.ttlMs);
  }

  async start(): Promise<void> {
    const sock = new Router();
    await sock.bind(this.#o.bind);
    this.#socket = sock;
    this.endpoint = sock.lastEndpoint ?? this.#o.bind;
    this.#sweeper = setInterval(() => this.#sweep(), Math.max(100, Math.floor(this.#o.ttlMs / 5)));
    void this.#receive(sock);
    this.#log.info({ endpoint: this.endpoint }, 'listening for P2P-NCCL registrations');
  }

  stop(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
    this.#socket?.close();
    this.#socket = null;
  }

  async #receive(sock: Router): Promise<void> {
    try {
      for await (const frames of sock) {
        const payload = frames[frames.length - 1];
        if (!payload || frames.length < 2) {
          this.rejected++;
          continue;
        }
        const r = decodeRegistration(payload);
        if (!r.ok) {
          this.rejected++;
          this.#log.debug({ reason: r.reason }, 'registration rejected');
          continue;
        }
        this.received++;
        const what = this.registry.register(r.value, Date.now());
        if (what !== 'refreshed') this.#track(this.registry.get(r.value.httpAddress)!, what);
      }
    } catch (e) {
      if (this.#socket) this.#log.error({ err: (e as Error).message }, 'discovery socket failed');
    }
  }

  #track(i: Instance, what: 'added' | 'changed'): void {
    const old = this.#ids.get(i.httpAddress);
    if (old) this.#agent.removeWorker(old);
    const id = this.#agent.addWorker({
      url: `http://${i.httpAddress}`,
      role: i.type === 'P' ? 'prefill' : 'decode',
      connector: 'p2p-nccl',
      zmqAddress: i.zmqAddress,
      models: this.#o.models,
    });
    this.#ids.set(i.httpAddress, id);
    this.#log.info({ workerId: id, type: i.type, http: i.httpAddress, zmq: i.zmqAddress, what }, 'P2P-NCCL instance registered');
  }

  #sweep(): void {
    for (const i of this.registry.expire(Date.now())) {
      const id = this.#ids.get(i.httpAddress);
      this.#ids.delete(i.httpAddress);
      if (id) this.#agent.removeWorker(id);
      this.#log.warn({ workerId: id, http: i.httpAddress }, `P2P-NCCL instance expired: no registration for ${this.#o.ttlMs / 1000} s`);
    }
  }
}
