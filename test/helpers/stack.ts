// A whole router stack for integration and end-to-end tests, in this process but over real
// parts: a nats-server of its own, simulated workers on real sockets, agents, schedulers and
// ingresses each with their own NATS connection. Fast heartbeats so that joins and leaves
// happen in a few hundred milliseconds. Everything stops when the test ends.
import type { NatsConnection } from '@nats-io/transport-node';
import type { TestContext } from 'node:test';
import OpenAI from 'openai';
import pino, { type Logger } from 'pino';
import { WorkerAgent } from '../../adapters/agent.ts';
import type { SimWorker, SimWorkerOptions } from '../../bench/sim/worker.ts';
import { INGRESS_DEFAULTS, validateIngressOptions, type IngressOptions } from '../../ingress/options.ts';
import { startIngress, type Ingress } from '../../ingress/server.ts';
import { connectNats } from '../../runtime/nats.ts';
import type { PolicyType } from '../../scheduler/policies/index.ts';
import { BREAKER_DEFAULTS } from '../../scheduler/circuit-breaker.ts';
import { PD_DEFAULTS } from '../../scheduler/pd/config.ts';
import { RETRY_DEFAULTS, type RetryOptions } from '../../scheduler/retry.ts';
import { Scheduler, type SchedulerOptions } from '../../scheduler/service.ts';
import { startNatsServer, type NatsServer, type NatsServerOptions } from './nats-server.ts';
import { eventually, SIM_MODEL, startSimWorker } from './sim.ts';

export const HEARTBEAT_MS = 200;

export interface StackOptions {
  readonly workers?: number;
  readonly sim?: Partial<SimWorkerOptions>;
  readonly schedulers?: number;
  readonly ingresses?: number;
  readonly policy?: PolicyType;
  readonly retry?: Partial<RetryOptions>;
  readonly ingress?: Partial<IngressOptions>;
  readonly nats?: NatsServerOptions;
  /** Per role credentials when the server enforces them (the repo's nats.conf). */
  readonly credentials?: { readonly ingress: [string, string]; readonly scheduler: [string, string]; readonly agent: [string, string] };
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
  /** A NATS connection for the test itself (no credentials needed unless the server enforces them). */
  connect(role: 'ingress' | 'scheduler' | 'agent', name?: string): Promise<NatsConnection>;
  /** Waits until every scheduler sees `n` ready workers. */
  waitForWorkers(n: number): Promise<void>;
}

export function schedulerOptions(id: string, overrides: Partial<SchedulerOptions> = {}): SchedulerOptions {
  return {
    id,
    region: 'test',
    policy: 'round_robin',
    upstream: { connectTimeoutMs: 1000, headersTimeoutMs: 30_000, bodyTimeoutMs: 30_000, workerApiKey: null },
    retry: { ...RETRY_DEFAULTS, initialBackoffMs: 5, maxBackoffMs: 50 },
    missedBeats: 3,
    syncIntervalMs: 10,
    syncFullIntervalMs: 200,
    retryAfterS: 1,
    pd: PD_DEFAULTS,
    breaker: BREAKER_DEFAULTS,
    startupGraceMs: 300,
    ...overrides,
  };
}

export async function startStack(t: Pick<TestContext, 'after'>, o: StackOptions = {}): Promise<Stack> {
  const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
  const nats = await startNatsServer(t, o.nats);
  const conns: NatsConnection[] = [];
  t.after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  });
  const connect = async (role: 'ingress' | 'scheduler' | 'agent', name: string = role): Promise<NatsConnection> => {
    const cred = o.credentials?.[role];
    const nc = await connectNats({ servers: nats.url, user: cred?.[0], password: cred?.[1], name, inboxPrefix: `_INBOX_${role}` }, log);
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
    const nc = await connect('agent', `agent-${workers.length}`);
    const agent = new WorkerAgent(
      nc,
      {
        region: 'test',
        intervalMs: HEARTBEAT_MS,
        probeTimeoutMs: 500,
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
    const s = new Scheduler(nc, schedulerOptions(id, { policy: o.policy ?? 'round_robin', ...(o.retry ? { retry: { ...RETRY_DEFAULTS, initialBackoffMs: 5, maxBackoffMs: 50, ...o.retry } } : {}), ...overrides }), log);
    await s.start();
    schedulers.push(s);
    return s;
  };

  const addIngress = async (overrides: Partial<IngressOptions> = {}) => {
    const id = overrides.id ?? `ingress-${ingresses.length}`;
    const nc = await connect('ingress', id);
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
    const ingress = await startIngress(nc, options, log);
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
    connect,
    async waitForWorkers(n) {
      await eventually(
        () => schedulers.every((s) => s.registry.candidates(SIM_MODEL, 'whole').length === n),
        `every scheduler sees ${n} ready workers`,
      );
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
