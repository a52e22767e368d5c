// The simulated workers every arm talks to: one `llm-router sim` process with N workers, and a
// check that they are idle again (nothing running or waiting) before the next point starts.
import { join } from 'node:path';
import { request } from 'undici';
import { alive, freePortRange, startChild, waitFor, type Child } from '../lib/procs.ts';

export interface SimOptions {
  readonly root: string;
  readonly workers: number;
  readonly profile: string;
  readonly cpus: string | null;
  /** Extra `llm-router sim` flags (e.g. --max-num-seqs). */
  readonly extra?: readonly string[];
  /** The CLI to start (default bin/llm-router.js). */
  readonly entry?: string;
  readonly env?: Readonly<Record<string, string>>;
}

export interface SimFleet {
  readonly child: Child;
  readonly urls: string[];
}

export async function startSim(o: SimOptions): Promise<SimFleet> {
  const base = await freePortRange(o.workers);
  const args = [
    o.entry ?? join(o.root, 'bin', 'llm-router.js'),
    'sim',
    '--workers',
    String(o.workers),
    '--base-port',
    String(base),
    '--profile',
    o.profile,
    '--kv-connector',
    'none',
    ...(o.extra ?? []),
  ];
  const child = startChild(`sim(${o.profile})`, process.execPath, args, { cpus: o.cpus, cwd: o.root, env: o.env ?? {} });
  const urls = Array.from({ length: o.workers }, (_, i) => `http://127.0.0.1:${base + i}`);
  await waitFor(`${o.workers} simulated workers`, () => (child.output().match(/^sim: http:/gm)?.length ?? 0) >= o.workers, 60_000, child);
  return { child, urls };
}

interface SimState {
  running: number;
  waiting: number;
  openRequests?: number;
}

async function state(url: string): Promise<SimState> {
  const r = await request(`${url}/_sim/state`, { headersTimeout: 5000, bodyTimeout: 5000 });
  return (await r.body.json()) as SimState;
}

/** Waits until every worker has nothing running, waiting or open (the previous point is over). */
export async function waitIdle(fleet: SimFleet, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    'the simulated workers to become idle',
    async () => {
      if (!alive(fleet.child)) throw new Error('simulator exited');
      const s = await Promise.all(fleet.urls.map(state));
      return s.every((x) => x.running === 0 && x.waiting === 0 && (x.openRequests ?? 0) === 0);
    },
    timeoutMs,
    fleet.child,
  );
}
