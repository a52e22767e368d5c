// The agent: next to one or more vLLM workers, it probes each one every interval and publishes
// its heartbeat on llm.v1.hb.<region>.<agentId>.<workerId> (the bus lets an agent publish only
// under its own id, and schedulers bind each worker to the agent that announced it); it answers llm.v1.hb.ping at once, so that a
// new scheduler need not wait a period; on stop it publishes `draining` for every worker first.
// A worker is advertised only once it has been healthy (a slow start joins late, never early).
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { Agent as UndiciAgent } from 'undici';
import { decodeDrain, type DrainCommand } from '../proto/admin.ts';
import { encodeHeartbeat, HEARTBEAT_VERSION, type ConnectorKind, type Heartbeat, type Role, type WorkerState } from '../proto/heartbeat.ts';
import { hash64Hex } from '../proto/hash.ts';
import { subjects } from '../proto/subjects.ts';
import { probeWorker } from './worker-probe.ts';

export interface AgentWorker {
  readonly url: string;
  readonly role: Role;
  readonly connector: ConnectorKind;
  readonly zmqAddress?: string | undefined;
  /** Served models, when known up front (else read from the worker). */
  readonly models?: readonly string[] | undefined;
  /** Heartbeat id; default derived from the URL's host and port. */
  readonly id?: string | undefined;
}

export interface AgentOptions {
  /** Who speaks for these workers: a subject token, pinned to this agent's NATS credential. */
  readonly agentId: string;
  readonly region: string;
  readonly intervalMs: number;
  readonly probeTimeoutMs: number;
  readonly workers: readonly AgentWorker[];
}

export const AGENT_DEFAULTS = Object.freeze({ region: 'default', intervalMs: 1000, probeTimeoutMs: 2000 });

/**
 * `http://10.0.0.5:8000` → `10-0-0-5-8000`: stable, readable, a valid subject token. When turning
 * the host into letters, digits and dashes could merge two hosts (`a-b.c` and `a.b-c`, IPv6
 * addresses) or the id must be shortened, a hash of the real host keeps ids apart.
 */
export function workerIdOf(url: string): string {
  const u = new URL(url);
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const host = u.hostname;
  const readable = host.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
  const lossy = !/^[A-Za-z0-9.]+$/.test(host);
  const room = 128 - port.length - 1;
  if (!lossy && readable.length <= room) return `${readable}-${port}`;
  const tag = hash64Hex(host).slice(0, 8);
  return `${readable.slice(0, room - tag.length - 1)}-${tag}-${port}`.replace(/^-/, '');
}

interface Tracked {
  readonly spec: AgentWorker;
  readonly id: string;
  last: Heartbeat | null;
  everHealthy: boolean;
  draining: boolean;
  probing: boolean;
  /** When a probe last found the worker healthy. */
  lastOkAt: number;
}

export class WorkerAgent {
  readonly #nc: NatsConnection;
  readonly #o: AgentOptions;
  readonly #log: Logger;
  readonly #http = new UndiciAgent({ keepAliveTimeout: 10_000, connections: 4 });
  #tracked: Tracked[];
  #seq = 0;
  #timer: NodeJS.Timeout | null = null;
  #sub: Subscription | null = null;
  #drainSub: Subscription | null = null;
  published = 0;

  constructor(nc: NatsConnection, o: AgentOptions, log: Logger) {
    this.#nc = nc;
    this.#o = o;
    this.#log = log;
    this.#tracked = o.workers.map((spec) => ({ spec, id: spec.id ?? workerIdOf(spec.url), last: null, everHealthy: false, draining: false, probing: false, lastOkAt: 0 }));
  }

  ids(): string[] {
    return this.#tracked.map((t) => t.id);
  }

  /** Starts reporting on another worker (discovery agents add workers as they find them). */
  addWorker(spec: AgentWorker): string {
    const id = spec.id ?? workerIdOf(spec.url);
    this.#tracked = this.#tracked.filter((t) => t.id !== id);
    const t: Tracked = { spec, id, last: null, everHealthy: false, draining: false, probing: false, lastOkAt: 0 };
    this.#tracked.push(t);
    void this.#beatOne(t);
    return id;
  }

  /** Stops reporting on a worker that went away; it is reported unhealthy once so schedulers drop it at once. */
  removeWorker(id: string): boolean {
    const t = this.#tracked.find((x) => x.id === id);
    if (!t) return false;
    this.#tracked = this.#tracked.filter((x) => x !== t);
    this.#publish(t, 'unhealthy');
    return true;
  }

  async start(): Promise<void> {
    this.#sub = this.#nc.subscribe(subjects.heartbeatPing, {
      callback: (err) => {
        if (err) return;
        // Answer with what we know now; a fresh probe follows on the normal beat.
        for (const t of this.#tracked) if (t.last) this.#publish(t, t.draining ? 'draining' : t.last.state);
      },
    });
    // An operator drained or undrained one of our workers (relayed by the schedulers).
    this.#drainSub = this.#nc.subscribe(subjects.agentDrain(this.#o.agentId), {
      callback: (err, msg) => {
        if (err) return;
        let cmd: DrainCommand | null = null;
        try {
          cmd = decodeDrain(msg.json());
        } catch {
          return;
        }
        const t = cmd && this.#tracked.find((x) => x.id === cmd.workerId);
        if (!cmd || !t || t.draining === cmd.drain) return;
        t.draining = cmd.drain;
        this.#log.warn({ workerId: t.id, drain: cmd.drain }, cmd.drain ? 'worker drained by an operator' : 'worker undrained by an operator');
        if (t.last) this.#publish(t, cmd.drain ? 'draining' : t.last.state === 'draining' ? 'ready' : t.last.state);
      },
    });
    await this.beat();
    this.#timer = setInterval(() => void this.beat(), this.#o.intervalMs);
  }

  /**
   * One beat: every worker's heartbeat goes out on time with what its last probe found, and a
   * new probe starts for each worker that has none in flight (its result is published as soon as
   * it lands). A slow probe never delays the beat, so a busy machine does not make schedulers
   * drop healthy workers; but a worker whose probes have not succeeded for a while is reported
   * unhealthy rather than vouched for.
   */
  async beat(): Promise<void> {
    const now = Date.now();
    const stale = Math.max(3 * this.#o.intervalMs, 2 * this.#o.probeTimeoutMs);
    for (const t of this.#tracked) {
      if (t.last) {
        const state: WorkerState = t.draining ? 'draining' : now - t.lastOkAt > stale ? 'unhealthy' : t.last.state === 'draining' ? 'ready' : t.last.state;
        this.#publish(t, state);
      }
    }
    await Promise.all(this.#tracked.filter((t) => !t.probing).map((t) => this.#beatOne(t)));
  }

  async #beatOne(t: Tracked): Promise<void> {
    t.probing = true;
    let p: Awaited<ReturnType<typeof probeWorker>>;
    try {
      p = await probeWorker(this.#http, t.spec.url.replace(/\/+$/, ''), this.#o.probeTimeoutMs, t.spec.models ?? t.last?.models ?? []);
    } finally {
      t.probing = false;
    }
    if (p.healthy) t.lastOkAt = Date.now();
    if (!t.everHealthy && !p.healthy) return; // not advertised until it first comes up
    // A probe that got no answer in time says the worker is slow (a busy engine answers /health
    // late), not that it is down: one late answer must not take a loaded worker out of every
    // scheduler (and empty their view of its cache). beat() reports it unhealthy once no probe
    // has succeeded for a while; a refused connection or a 503 is reported at once.
    if (p.timedOut && t.last) return;
    if (p.models.length === 0) return;
    if (p.healthy && !t.everHealthy) this.#log.info({ workerId: t.id, url: t.spec.url }, 'worker is up');
    if (!p.healthy && t.last?.state === 'ready') this.#log.warn({ workerId: t.id, reachable: p.reachable }, 'worker is unhealthy');
    t.everHealthy = true;
    const state: WorkerState = t.draining ? 'draining' : p.healthy ? 'ready' : 'unhealthy';
    t.last = {
      v: HEARTBEAT_VERSION,
      id: t.id,
      agent: this.#o.agentId,
      url: t.spec.url.replace(/\/+$/, ''),
      region: this.#o.region,
      models: [...p.models],
      role: t.spec.role,
      connector: { kind: t.spec.connector, ...(t.spec.zmqAddress ? { zmqAddress: t.spec.zmqAddress } : {}) },
      state,
      load: p.load ? { running: p.load.running, waiting: p.load.waiting, kvUsage: p.load.kvUsage } : (t.last?.load ?? { running: 0, waiting: 0, kvUsage: 0 }),
      kv: { blockSize: p.load?.blockSize ?? t.last?.kv.blockSize ?? 16, numBlocks: p.load?.numBlocks ?? t.last?.kv.numBlocks ?? 0 },
      seq: 0,
      sentAt: 0,
      intervalMs: this.#o.intervalMs,
    };
    this.#publish(t, state);
  }

  #publish(t: Tracked, state: WorkerState): void {
    if (!t.last) return;
    const hb: Heartbeat = { ...t.last, state, seq: ++this.#seq, sentAt: Date.now() };
    try {
      this.#nc.publish(subjects.heartbeat(this.#o.region, this.#o.agentId, t.id), encodeHeartbeat(hb));
      this.published++;
    } catch (e) {
      this.#log.debug({ err: (e as Error).message }, 'heartbeat not published');
    }
  }

  /** Marks workers draining (no new work) and says so at once; `ids` default to all. */
  drain(ids?: readonly string[]): void {
    for (const t of this.#tracked) {
      if (ids && !ids.includes(t.id)) continue;
      t.draining = true;
      this.#publish(t, 'draining');
    }
  }

  /** Leaves: draining heartbeats first, so schedulers stop sending work before we go quiet. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.drain();
    this.#sub?.unsubscribe();
    this.#drainSub?.unsubscribe();
    await this.#nc.flush().catch(() => undefined);
    await this.#http.close().catch(() => undefined);
  }
}
