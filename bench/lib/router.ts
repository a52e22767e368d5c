// The router arm of a benchmark: a nats-server of its own (nats-server.ts, with its monitoring
// endpoint on, for the traffic counters) and the router's processes, each started from bin/llm-router.js as it runs in production: scheduler, ingress,
// and one agent heartbeating the simulated workers.
import { join } from 'node:path';
import { request } from 'undici';
import { entryMode as binEntryMode, staleSource } from '../../bin/entry-mode.js';
import { SERVER_NODE_FLAGS } from '../../runtime/node-flags.ts';
import { startNats } from './nats-server.ts';
import { freePort, startChild, tcpAnswers, waitFor, type Child } from './procs.ts';

export interface RouterOptions {
  readonly root: string;
  readonly policy: string;
  readonly logLevel: string;
  /** taskset CPU list for the router's processes (null: unpinned). */
  readonly cpus: string | null;
  /** Extra node flags for the scheduler and ingress (e.g. --cpu-prof). */
  readonly nodeFlags: readonly string[];
  /** The router's entry point: bin/llm-router.js (dist/ build or tsx), or a prebuilt JS bundle. */
  readonly entry: string | null;
  /** Extra environment (LLMR_FROM_SOURCE=1 makes bin/llm-router.js run the sources). */
  readonly env?: Readonly<Record<string, string>>;
  /** More flags for the scheduler and for the ingress (e.g. admission limits). */
  readonly schedulerArgs?: readonly string[];
  readonly ingressArgs?: readonly string[];
  /** JetStream on the router's nats-server (auditing, rate limits). */
  readonly jetstream?: boolean;
}

/** The router as the benchmarks run it unless they say otherwise: round robin, unpinned, the dist/ build, warnings only. */
export function plainRouter(root: string): RouterOptions {
  return { root, policy: 'round_robin', logLevel: 'warn', cpus: null, nodeFlags: [], entry: null, env: {} };
}

export interface RouterArm {
  readonly url: string;
  readonly natsUrl: string;
  /** nats-server's monitoring endpoint (GET /varz: message and byte counters). */
  readonly natsMonitorUrl: string;
  readonly nats: Child;
  readonly scheduler: Child;
  readonly ingress: Child;
  readonly agents: Child[];
  /** Starts another agent for more workers (its model must then appear in /v1/models). */
  addAgent(workerUrls: readonly string[]): Child;
}

/**
 * What bin/llm-router.js will run, by its own rule (bin/entry-mode.js), for the benchmark's
 * report; a dist/ build older than the sources is named, since its numbers would not be theirs.
 */
export function entryMode(root: string, fromSource: boolean): string {
  // The router's processes inherit this process's environment, plus LLMR_FROM_SOURCE=1 with --from-source.
  const mode = binEntryMode(root, fromSource ? { LLMR_FROM_SOURCE: '1' } : process.env);
  if (mode.from === 'source') return `the TypeScript sources through tsx (${mode.why})`;
  const stale = staleSource(root);
  return stale ? `the compiled dist/ build, OLDER than the sources (${stale} changed since; run npm run build)` : 'the compiled dist/ build';
}

interface ModelList {
  data: { id: string; workers?: number }[];
}

/** Resolves once the ingress lists `model` with `workers` workers (heartbeats have arrived). */
export async function waitForModel(url: string, model: string, workers: number, timeoutMs = 30_000, child?: Child): Promise<void> {
  await waitFor(
    `the router to list ${model} with ${workers} workers`,
    async () => {
      const r = await request(`${url}/v1/models`, { headersTimeout: 2000, bodyTimeout: 2000 });
      if (r.statusCode !== 200) {
        await r.body.dump();
        return false;
      }
      const m = (await r.body.json()) as ModelList;
      return m.data.some((d) => d.id === model && (d.workers ?? 0) >= workers);
    },
    timeoutMs,
    child,
  );
}

export async function startRouter(o: RouterOptions, workerUrls: readonly string[]): Promise<RouterArm> {
  const nats = await startNats(o.cpus, { monitor: true, jetstream: o.jetstream === true });
  const bin = o.entry ?? join(o.root, 'bin', 'llm-router.js');
  const common = ['--nats-url', nats.url, '--log-level', o.logLevel];
  const node = (name: string, flags: readonly string[], args: readonly string[]): Child =>
    startChild(name, process.execPath, [...flags, bin, ...args, ...common], { cpus: o.cpus, cwd: o.root, env: o.env ?? {} });
  // The flags the router ships with (runtime/node-flags.ts), then the run's own.
  const serverFlags = [...SERVER_NODE_FLAGS, ...o.nodeFlags];
  const scheduler = node('scheduler', serverFlags, ['scheduler', '--policy', o.policy, '--id', 'bench-sched', '--metrics-port', '0', ...(o.schedulerArgs ?? [])]);
  const port = await freePort();
  const ingress = node('ingress', serverFlags, ['ingress', '--host', '127.0.0.1', '--port', String(port), '--metrics-port', '0', '--id', 'bench-ingress', ...(o.ingressArgs ?? [])]);
  const agents: Child[] = [];
  const addAgent = (urls: readonly string[]): Child => {
    const a = node(`agent-${agents.length}`, [], ['agent', '--worker', urls.join(','), '--connector', 'none', '--interval-ms', '1000']);
    agents.push(a);
    return a;
  };
  addAgent(workerUrls);
  const url = `http://127.0.0.1:${port}`;
  await waitFor('the ingress to listen', () => tcpAnswers(port), 30_000, ingress);
  return { url, natsUrl: nats.url, natsMonitorUrl: nats.monitorUrl!, nats: nats.child, scheduler, ingress, agents, addAgent };
}
