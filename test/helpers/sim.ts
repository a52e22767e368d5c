// Simulated vLLM workers for tests: port 0 (a free port), the fast `tiny` profile unless told
// otherwise, stopped when the test ends.
import type { TestContext } from 'node:test';
import { PROFILES } from '../../sim/profiles.ts';
import { SimWorker, type SimWorkerOptions } from '../../sim/worker.ts';

export const SIM_MODEL = 'sim-model';

export function simOptions(overrides: Partial<SimWorkerOptions> = {}): SimWorkerOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    profile: PROFILES.tiny,
    models: [SIM_MODEL],
    role: 'both',
    kvConnector: 'nixl',
    kvLoadFailurePolicy: 'recompute',
    kvLeaseMs: 30_000,
    outputLength: { min: 8, max: 32 },
    ...overrides,
  };
}

/** Starts a worker that is stopped when `t` (a test or suite context) ends. */
export async function startSimWorker(t: Pick<TestContext, 'after'>, overrides: Partial<SimWorkerOptions> = {}): Promise<SimWorker> {
  const w = new SimWorker(simOptions(overrides));
  await w.start();
  t.after(() => w.stop());
  return w;
}

/** The simulator's internal state (GET /_sim/state), typed for the fields tests read. */
export interface SimState {
  engineId: string;
  running: number;
  waiting: number;
  openRequests: number;
  kv: { numBlocks: number; free: number; cached: number; usage: number; leases: number };
  stats: {
    promptTokens: number;
    generationTokens: number;
    prefixQueries: number;
    prefixHits: number;
    preemptions: number;
    promptTokensComputed: number;
    remoteKvTokensLoaded: number;
    remoteKvLoadFailures: number;
    finished: Record<'stop' | 'length' | 'abort' | 'error', number>;
  };
  nixl: { failedTransfers: number; expiredLeases: number };
  p2p: { registrationsSent: number; kvSent: number; kvReceived: number; failedTransfers: number } | null;
}

export async function simState(w: SimWorker): Promise<SimState> {
  const r = await fetch(`${w.url}/_sim/state`);
  return (await r.json()) as SimState;
}

/** Polls `check` until it returns true (for effects that land asynchronously, e.g. an abort after a disconnect). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sets a worker's faults (POST /_sim/faults); `{ reset: true }` clears them. */
export async function setFaults(w: SimWorker, faults: Record<string, unknown>): Promise<void> {
  const r = await fetch(`${w.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults) });
  await r.arrayBuffer();
  if (r.status >= 400) throw new Error(`/_sim/faults answered ${r.status}`);
}
