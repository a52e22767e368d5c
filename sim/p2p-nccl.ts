// P2P-NCCL P/D between simulated workers (vLLM's P2pNcclConnector; docs/ARCHITECTURE.md#driving-vllms-disaggregated-serving).
// Discovery: a ZeroMQ DEALER whose identity is this worker's zmq_address sends the proxy a msgpack
// map {type: "P"|"D", http_address, zmq_address} every 3 s. Transfer: the router names both peers
// in the request id, `___prefill_addr_<P>___decode_addr_<D>_<uuid>`; the prefill worker pushes the
// KV to the decode worker's zmq_address (a ZeroMQ message standing in for the NCCL PUT), and the
// decode worker waits for the KV from the prefill worker named in the id. An id without both
// addresses fails the request as vLLM's `parse_request_id` does.
import { encode, decode } from '@msgpack/msgpack';
import { Dealer, Router } from 'zeromq';
import type { Clock } from './clock.ts';
import type { Engine, RemoteKvSource } from './engine.ts';
import { kvTransferMs } from './profiles.ts';

export const REGISTRATION_INTERVAL_MS = 3000;
const PREFILL_ADDR = /___prefill_addr_(.*):(\d+)___/;
const DECODE_ADDR = /___decode_addr_(.*):(\d+)/;
/** KV that arrived but that no request claimed is dropped after this long. */
const ARRIVAL_TTL_MS = 60_000;

export interface P2pOptions {
  readonly engine: Engine;
  readonly clock: Clock;
  readonly role: 'prefill' | 'decode' | 'both';
  readonly host: string;
  /** The worker's HTTP port (known once it listens). */
  readonly httpPort: () => number;
  /** 0 picks a free port; {@link P2pNccl.zmqAddress} tells which. */
  readonly kvPort: number;
  /** `tcp://host:port` of the discovery proxy; none: do not register. */
  readonly proxy: string | null;
  /** How long a decode request waits for its KV before failing. */
  readonly kvWaitMs: number;
}

interface Arrival {
  readonly from: string;
  readonly tokens: number;
}

export type P2pPlan =
  | { ok: true; role: 'prefill'; sendKv: (tokens: number) => void }
  | { ok: true; role: 'decode'; source: (onFailure: 'recompute' | 'fail') => RemoteKvSource }
  | { ok: false; reason: string };

export class P2pNccl {
  zmqAddress: string;
  readonly type: 'P' | 'D';
  registrationsSent = 0;
  kvSent = 0;
  kvReceived = 0;
  failedTransfers = 0;
  /** The port the inbox bound (known after {@link start}). */
  boundPort: number | null = null;
  readonly #o: P2pOptions;
  #inbox: Router | null = null;
  #registrar: Dealer | null = null;
  #registrationTimer: NodeJS.Timeout | null = null;
  readonly #peers = new Map<string, Dealer>();
  readonly #arrived = new Map<string, Arrival>();
  readonly #waiters = new Map<string, (a: Arrival) => void>();
  #closed = false;
  /** Bumped by each start and stop: a start that finds it moved on was stopped meanwhile. */
  #generation = 0;

  constructor(o: P2pOptions) {
    this.#o = o;
    this.zmqAddress = `${o.host}:${o.kvPort}`;
    // vLLM registers kv_producer and kv_both as "P".
    this.type = o.role === 'decode' ? 'D' : 'P';
  }

  async start(): Promise<void> {
    this.#closed = false;
    const generation = ++this.#generation;
    const inbox = new Router();
    await inbox.bind(`tcp://${this.#o.host}:${this.#o.kvPort === 0 ? '*' : this.#o.kvPort}`);
    // Stopped while binding (a test ending as its worker restarts): a socket opened now would keep
    // the process alive with nothing left to close it.
    if (generation !== this.#generation) {
      inbox.close();
      return;
    }
    const bound = /:(\d+)$/.exec(inbox.lastEndpoint ?? '');
    if (bound) {
      this.zmqAddress = `${this.#o.host}:${bound[1]}`;
      this.boundPort = Number(bound[1]);
    }
    this.#inbox = inbox;
    void this.#receive(inbox);
    if (this.#o.proxy) {
      const dealer = new Dealer({ routingId: this.zmqAddress, linger: 0 });
      dealer.connect(this.#o.proxy);
      this.#registrar = dealer;
      const register = (): void => {
        const msg = encode({ type: this.type, http_address: `${this.#o.host}:${this.#o.httpPort()}`, zmq_address: this.zmqAddress });
        dealer.send(msg).then(
          () => this.registrationsSent++,
          () => undefined,
        );
      };
      register();
      this.#registrationTimer = setInterval(register, REGISTRATION_INTERVAL_MS);
    }
  }

  stop(): void {
    this.#closed = true;
    this.#generation++;
    if (this.#registrationTimer) clearInterval(this.#registrationTimer);
    this.#registrationTimer = null;
    this.#registrar?.close();
    this.#registrar = null;
    this.#inbox?.close();
    this.#inbox = null;
    for (const d of this.#peers.values()) d.close();
    this.#peers.clear();
    this.#arrived.clear();
    this.#waiters.clear();
  }

  /** Reads this worker's part in a P/D request from the request id. */
  plan(requestId: string): P2pPlan {
    if (this.type === 'P') {
      const m = DECODE_ADDR.exec(requestId);
      if (!m) return { ok: false, reason: `Request id ${requestId} does not contain hostname and port` };
      const to = `${m[1]}:${m[2]}`;
      return { ok: true, role: 'prefill', sendKv: (tokens) => this.#send(to, requestId, tokens) };
    }
    const m = PREFILL_ADDR.exec(requestId);
    if (!m) return { ok: false, reason: `Request id ${requestId} does not contain hostname and port` };
    const from = `${m[1]}:${m[2]}`;
    return {
      ok: true,
      role: 'decode',
      source: (onFailure) => ({
        onFailure,
        load: async (_blocks, promptTokens) => {
          const a = await this.#await(requestId);
          if (!a || a.from !== from || a.tokens !== promptTokens) {
            this.failedTransfers++;
            return false;
          }
          await new Promise<void>((r) => this.#o.clock.after(kvTransferMs(this.#o.engine.profile, a.tokens), r));
          return true;
        },
      }),
    };
  }

  #send(to: string, requestId: string, tokens: number): void {
    let peer = this.#peers.get(to);
    if (!peer) {
      peer = new Dealer({ linger: 0, sendHighWaterMark: 10_000 });
      peer.connect(`tcp://${to}`);
      this.#peers.set(to, peer);
    }
    peer.send([requestId, encode({ from: this.zmqAddress, tokens })]).then(
      () => this.kvSent++,
      () => this.failedTransfers++,
    );
  }

  #await(requestId: string): Promise<Arrival | null> {
    const ready = this.#arrived.get(requestId);
    if (ready) {
      this.#arrived.delete(requestId);
      return Promise.resolve(ready);
    }
    return new Promise((resolve) => {
      const cancel = this.#o.clock.after(this.#o.kvWaitMs, () => {
        this.#waiters.delete(requestId);
        resolve(null);
      });
      this.#waiters.set(requestId, (a) => {
        cancel();
        resolve(a);
      });
    });
  }

  async #receive(inbox: Router): Promise<void> {
    try {
      for await (const frames of inbox) {
        // [identity, requestId, payload]; anything else is noise from a stray peer.
        const [, id, payload] = frames;
        if (!id || !payload) continue;
        let msg: unknown;
        try {
          msg = decode(payload);
        } catch {
          continue;
        }
        const m = msg as { from?: unknown; tokens?: unknown };
        if (typeof m.from !== 'string' || !Number.isInteger(m.tokens)) continue;
        const a: Arrival = { from: m.from, tokens: m.tokens as number };
        const requestId = id.toString();
        this.kvReceived++;
        const waiter = this.#waiters.get(requestId);
        if (waiter) {
          this.#waiters.delete(requestId);
          waiter(a);
        } else {
          this.#arrived.set(requestId, a);
          this.#o.clock.after(ARRIVAL_TTL_MS, () => this.#arrived.delete(requestId));
        }
      }
    } catch (e) {
      if (!this.#closed) throw e;
    }
  }
}
