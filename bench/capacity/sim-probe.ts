// What the simulator tells about itself, read by the capacity client: a worker's counters from
// /_sim/state and its inter-token latency histogram from /metrics.
import { request } from 'undici';

export interface WorkerSnapshot {
  running: number;
  usedBlocks: number;
  steps: number;
  busyMs: number;
  generationTokens: number;
  maxLagMs: number;
  itlSum: number;
  itlCount: number;
}

export interface SimState {
  running: number;
  kv: { numBlocks: number; free: number };
  stats: { steps: number; busyMs: number; generationTokens: number; maxLagMs: number };
}

async function getText(url: string): Promise<string> {
  const r = await request(url, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  const t = await r.body.text();
  if (r.statusCode !== 200) throw new Error(`${url}: HTTP ${r.statusCode}`);
  return t;
}

export async function simState(base: string): Promise<SimState> {
  return JSON.parse(await getText(`${base}/_sim/state`)) as SimState;
}

function histogram(text: string, name: string): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}_sum`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    else if (line.startsWith(`${name}_count`)) count += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { sum, count };
}

export async function snapshot(base: string): Promise<WorkerSnapshot> {
  const [s, m] = await Promise.all([simState(base), getText(`${base}/metrics`)]);
  const itl = histogram(m, 'vllm:inter_token_latency_seconds');
  return {
    running: s.running,
    usedBlocks: s.kv.numBlocks - s.kv.free,
    steps: s.stats.steps,
    busyMs: s.stats.busyMs,
    generationTokens: s.stats.generationTokens,
    maxLagMs: s.stats.maxLagMs,
    itlSum: itl.sum,
    itlCount: itl.count,
  };
}
