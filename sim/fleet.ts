// Starts N simulated workers in one process on consecutive ports (llm-router sim).
import type { SchedulingPolicy } from './openai-request.ts';
import { dilated, PROFILES, type ProfileName } from './profiles.ts';
import type { KvConnector } from './generate.ts';
import { SimWorker, type WorkerRole } from './worker.ts';

export interface FleetOptions {
  readonly workers: number;
  readonly host: string;
  readonly basePort: number;
  readonly role: WorkerRole;
  readonly profile: ProfileName;
  readonly models?: readonly string[];
  readonly kvConnector: KvConnector;
  readonly kvLoadFailurePolicy: 'recompute' | 'fail';
  readonly kvLeaseMs: number;
  /** P2P-NCCL: worker i's ZeroMQ port is kvBasePort + i. */
  readonly kvBasePort: number;
  readonly proxy: string | null;
  readonly kvWaitMs: number;
  readonly numGpuBlocks?: number;
  readonly maxNumSeqs?: number;
  readonly maxNumBatchedTokens?: number;
  readonly schedulingPolicy?: SchedulingPolicy;
  readonly outputLength: { readonly min: number; readonly max: number };
  /** Every duration multiplied by this (see profiles.ts `dilated`). */
  readonly timeScale?: number;
  /** vLLM's --api-key. */
  readonly apiKey?: string | undefined;
}

export const FLEET_DEFAULTS = Object.freeze({
  workers: 1,
  host: '127.0.0.1',
  basePort: 8100,
  role: 'both',
  profile: 'llama-3.1-8b-h100',
  kvConnector: 'nixl',
  kvLoadFailurePolicy: 'recompute',
  kvLeaseMs: 30_000,
  proxy: null,
  kvWaitMs: 10_000,
  outputLength: Object.freeze({ min: 32, max: 256 }),
} as const satisfies Partial<FleetOptions>);

export function buildFleet(o: FleetOptions): SimWorker[] {
  const profile = dilated(PROFILES[o.profile], o.timeScale ?? 1);
  const models = o.models && o.models.length > 0 ? o.models : [profile.model];
  return Array.from(
    { length: o.workers },
    (_, i) =>
      new SimWorker({
        host: o.host,
        port: o.basePort + i,
        profile,
        models,
        role: o.role,
        kvConnector: o.kvConnector,
        kvLoadFailurePolicy: o.kvLoadFailurePolicy,
        kvLeaseMs: o.kvLeaseMs,
        outputLength: o.outputLength,
        apiKey: o.apiKey,
        ...(o.numGpuBlocks !== undefined ? { numGpuBlocks: o.numGpuBlocks } : {}),
        ...(o.maxNumSeqs !== undefined ? { maxNumSeqs: o.maxNumSeqs } : {}),
        ...(o.schedulingPolicy !== undefined ? { schedulingPolicy: o.schedulingPolicy } : {}),
        ...(o.maxNumBatchedTokens !== undefined ? { maxNumBatchedTokens: o.maxNumBatchedTokens } : {}),
        ...(o.kvConnector === 'p2p-nccl' ? { p2p: { kvPort: o.kvBasePort + i, proxy: o.proxy, kvWaitMs: o.kvWaitMs } } : {}),
      }),
  );
}

export async function startFleet(o: FleetOptions): Promise<SimWorker[]> {
  const fleet = buildFleet(o);
  try {
    for (const w of fleet) await w.start();
  } catch (e) {
    await Promise.all(fleet.map((w) => w.stop()));
    throw e;
  }
  return fleet;
}
