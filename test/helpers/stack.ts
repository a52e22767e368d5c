// A whole router stack for integration and end-to-end tests, in this process but over real
// parts: a nats-server of its own, simulated workers on real sockets, agents, schedulers and
// ingresses each with their own NATS connection. Fast heartbeats so that joins and leaves
// happen in a few hundred milliseconds. Everything stops when the test ends.
// The bus is the shipped nats.conf with its real users and permissions (each ingress its own
// user, agents as agent-1), unless a test asks for a bus of its own with `nats`.
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from '@nats-io/transport-node';
import type { TestContext } from 'node:test';
import OpenAI from 'openai';
import pino, { type Logger } from 'pino';
import { WorkerAgent } from '../../adapters/agent.ts';
import type { SimWorker, SimWorkerOptions } from '../../sim/worker.ts';
import { INGRESS_DEFAULTS, validateIngressOptions, type IngressOptions } from '../../ingress/options.ts';
import { startIngress, type Ingress } from '../../ingress/server.ts';
import { connectNats } from '../../runtime/nats.ts';
import type { PolicyType } from '../../scheduler/policies/index.ts';
import { RETRY_DEFAULTS, type RetryOptions } from '../../scheduler/retry.ts';
import { SCHEDULER_DEFAULTS, validateSchedulerOptions } from '../../scheduler/options.ts';
import { Scheduler, type SchedulerOptions } from '../../scheduler/service.ts';
import { startNatsServer, type NatsServer, type NatsServerOptions } from './nats-server.ts';
import { eventually, SIM_MODEL, startSimWorker } from './sim.ts';

export const HEARTBEAT_MS = 200;
/**
 * Beats are fast so that joins show at once, but liveness is generous: on a machine loaded by
 * other suites (or `npm run chaos`) a probe or a beat can be late by a second or more, and a test
 * must not see a live worker dropped (503) for that. A worker that dies is still noticed at once:
 * its agent's probe is refused and it reports the worker unhealthy at the next beat.
 */
export const MISSED_BEATS = 15;
export const PROBE_TIMEOUT_MS = 2000;

/** The repo's nats.conf, which the stack runs on by default. */
export const NATS_CONF = fileURLToPath(new URL('../../nats.conf', import.meta.url));

/** The users of nats.conf (passwords `<user>-dev`, for local use only). */
export const BUS_USERS = ['ingress-1', 'ingress-2', 'scheduler', 'agent-1', 'agent-2', 'agent-zmq', 'admin', 'auditor'] as const;
export type BusUser = (typeof BUS_USERS)[number];
/** A role stands for its first user. */
export type BusPrincipal = BusUser | 'ingress' | 'agent';

export function busUser(p: BusPrincipal): BusUser {
  return p === 'ingress' ? 'ingress-1' : p === 'agent' ? 'agent-1' : p;
}

export interface StackOptions {
  readonly workers?: number;
  readonly sim?: Partial<SimWorkerOptions>;
  readonly schedulers?: number;
  readonly ingresses?: number;
  readonly policy?: PolicyType;
  readonly retry?: Partial<RetryOptions>;
  readonly ingress?: Partial<IngressOptions>;
  /** A bus of the test's own (anonymous, unless it is the repo's nats.conf). Default: nats.conf. */
  readonly nats?: NatsServerOptions;
}

export interface Stack {
  readonly nats: NatsServer;
  readonly workers: SimWorker[];
  readonly agents: WorkerAgent[];
  readonly schedulers: Scheduler[];
  readonly ingresses: Ingress[];
  readonly log: Logger;
  /** Base URL of ingress `i`. */
  url(i?: number): string;
  /** The official client against ingress `i`. */
  client(i?: number): OpenAI;
  addWorker(overrides?: Partial<SimWorkerOptions>): Promise<{ worker: SimWorker; agent: WorkerAgent }>;
  addScheduler(overrides?: Partial<SchedulerOptions>): Promise<Scheduler>;
  addIngress(overrides?: Partial<IngressOptions>): Promise<Ingress>;
  /** Stops an ingress and frees its nats.conf user for the next addIngress. */
  removeIngress(ingress: Ingress): Promise<void>;
  /** A NATS connection for the test itself, as one of nats.conf's users (its inbox prefix is `_INBOX_<user>`). */
  connect(user: BusPrincipal, name?: string): Promise<NatsConnection>;
  /** Whether the bus enforces nats.conf's users. */
  readonly authenticated: boolean;
  /** Waits until every scheduler sees `n` ready workers. */
  waitForWorkers(n: number): Promise<void>;
}

export function schedulerOptions(id: string, overrides: Partial<SchedulerOptions> = {}): SchedulerOptions {
  // The defaults, with what tests need faster: quick sync, a short start, fast retries, round robin.
  return validateSchedulerOptions({
    ...SCHEDULER_DEFAULTS,
    id,
    region: 'test',
    policy: 'round_robin',
    upstream: { ...SCHEDULER_DEFAULTS.upstream, connectTimeoutMs: 1000, headersTimeoutMs: 30_000, bodyTimeoutMs: 30_000 },
    retry: { ...SCHEDULER_DEFAULTS.retry, initialBackoffMs: 5, maxBackoffMs: 50 },
    missedBeats: MISSED_BEATS,
    syncIntervalMs: 10,
    syncFullIntervalMs: 200,
    startupGraceMs: 300,
    ...overrides,
  });
}

export async function startStack(t: Pick<TestContext, 'after'>, o: StackOptions = {}): Promise<Stack> {
  const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
  const natsOptions = o.nats ?? { configFile: NATS_CONF };
  const authenticated = natsOptions.configFile === NATS_CONF;
  const nats = await startNatsServer(t, natsOptions);
  const conns: NatsConnection[] = [];
  t.after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  });
  const connect = async (principal: BusPrincipal, name: string = principal): Promise<NatsConnection> => {
    const user = busUser(principal);
    const nc = await connectNats({ servers: nats.url, ...(authenticated ? { user, password: `${user}-dev` } : {}), name, inboxPrefix: `_INBOX_${user}` }, log);
    conns.push(nc);
    return nc;
  };

  const workers: SimWorker[] = [];
  const agents: WorkerAgent[] = [];
  const schedulers: Scheduler[] = [];
  const ingresses: Ingress[] = [];
  t.after(async () => {
    for (const i of ingresses) await i.stop(0).catch(() => undefined);
    for (const s of schedulers) await s.stop(0).catch(() => undefined);
    for (const a of agents) await a.stop().catch(() => undefined);
  });

  const addWorker = async (overrides: Partial<SimWorkerOptions> = {}) => {
    const worker = await startSimWorker(t, { ...o.sim, ...overrides });
    const nc = await connect('agent-1', `agent-${workers.length}`);
    const agent = new WorkerAgent(
      nc,
      {
        agentId: 'agent-1',
        region: 'test',
        intervalMs: HEARTBEAT_MS,
        probeTimeoutMs: PROBE_TIMEOUT_MS,
        workers: [{ url: worker.url, role: worker.options.role, connector: worker.options.kvConnector, zmqAddress: worker.p2p?.zmqAddress }],
      },
      log,
    );
    await agent.start();
    workers.push(worker);
    agents.push(agent);
    return { worker, agent };
  };

  const addScheduler = async (overrides: Partial<SchedulerOptions> = {}) => {
    const id = overrides.id ?? `sched-${schedulers.length}`;
    const nc = await connect('scheduler', id);
    const s = new Scheduler(
      nc,
      schedulerOptions(id, { policy: o.policy ?? 'round_robin', ...(o.retry ? { retry: { ...RETRY_DEFAULTS, initialBackoffMs: 5, maxBackoffMs: 50, ...o.retry } } : {}), ...overrides }),
      log,
    );
    await s.start();
    schedulers.push(s);
    return s;
  };

  const addIngress = async (overrides: Partial<IngressOptions> = {}) => {
    // On nats.conf an ingress's id is its user's name: it may read only its own streams.
    const inUse = new Set(ingresses.map((i) => i.options.id));
    const id = overrides.id ?? (authenticated ? BUS_USERS.filter((u) => u.startsWith('ingress-')).find((u) => !inUse.has(u)) : undefined) ?? `ingress-${ingresses.length + 1}`;
    if (authenticated && !(BUS_USERS as readonly string[]).includes(id)) throw new Error(`nats.conf has no user for ingress ${id}: use ingress-1 or ingress-2, or a bus of the test's own`);
    const nc = await connect(id as BusUser, id);
    const options = validateIngressOptions({
      ...INGRESS_DEFAULTS,
      bodyLimit: null,
      id,
      port: 0,
      region: 'test',
      acceptTimeoutMs: 1000,
      idleTimeoutMs: 10_000,
      // Tests read x-router-worker to learn which worker answered.
      workerHeader: 'id',
      ...o.ingress,
      ...overrides,
    });
    // The fleet API needs the admin user's connection on nats.conf (ingress users may not drain).
    const adminNc = authenticated ? await connect('admin', `${id}-admin`) : undefined;
    const ingress = await startIngress(nc, options, log, adminNc ? { adminNc } : {});
    ingresses.push(ingress);
    return ingress;
  };

  for (let i = 0; i < (o.schedulers ?? 1); i++) await addScheduler();
  for (let i = 0; i < (o.workers ?? 2); i++) await addWorker();
  for (let i = 0; i < (o.ingresses ?? 1); i++) await addIngress();

  const stack: Stack = {
    nats,
    workers,
    agents,
    schedulers,
    ingresses,
    log,
    url: (i = 0) => ingresses[i]!.url,
    client: (i = 0) => new OpenAI({ baseURL: `${ingresses[i]!.url}/v1`, apiKey: 'test', maxRetries: 0 }),
    addWorker,
    addScheduler,
    addIngress,
    async removeIngress(ingress) {
      const i = ingresses.indexOf(ingress);
      if (i >= 0) ingresses.splice(i, 1);
      await ingress.stop(0);
    },
    connect,
    authenticated,
    async waitForWorkers(n) {
      await eventually(() => schedulers.every((s) => s.registry.candidates(SIM_MODEL, 'whole').length === n), `every scheduler sees ${n} ready workers`);
    },
  };
  await stack.waitForWorkers(o.workers ?? 2);
  return stack;
}

/** For suites that build their fixtures in `before`: collects cleanups, which `run` (call it in `after`) undoes in reverse. */
export function cleanupScope(): { after(fn: () => unknown): void; run(): Promise<void> } {
  const fns: (() => unknown)[] = [];
  return {
    after: (fn) => {
      fns.push(fn);
    },
    async run() {
      for (const fn of fns.reverse()) await fn();
    },
  };
}
