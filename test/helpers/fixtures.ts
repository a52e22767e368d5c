// Fixtures shared by tests: a valid heartbeat and a registry view of a worker, with overrides.
import type { Heartbeat } from '../../proto/heartbeat.ts';
import type { WorkerView } from '../../scheduler/registry.ts';

export const FIXTURE_MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

export function heartbeat(id: string, over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    v: 1,
    id,
    agent: 'agent-1',
    url: `http://${id}:8000`,
    region: 'r1',
    models: [FIXTURE_MODEL],
    role: 'both',
    connector: { kind: 'none' },
    state: 'ready',
    load: { running: 0, waiting: 0, kvUsage: 0 },
    kv: { blockSize: 16, numBlocks: 1000 },
    seq: 1,
    sentAt: 1000,
    intervalMs: 1000,
    ...over,
  };
}

export function workerView(id: string, over: Partial<WorkerView> = {}): WorkerView {
  // The registry's view is the heartbeat without its version, plus when it was last seen.
  const { v: _v, ...beat } = heartbeat(id, { sentAt: 0 });
  return { ...beat, lastSeen: 0, ...over };
}
