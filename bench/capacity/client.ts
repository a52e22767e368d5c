// The capacity benchmark's load client, run in its own process pinned to the client core: keeps
// `streams` streaming completions open against the simulated workers (ignore_eos, a fresh request
// as soon as one ends), measures each stream's inter-chunk gaps over a window after a warm-up, and
// samples what the workers, the simulator's process and its core did meanwhile.
//
// Run in its own process: `node --import tsx bench/capacity/client.ts '<ClientConfig JSON>'`
// prints `RESULT <ClientResult JSON>`.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { isMain, runChild } from '../lib/child-main.ts';
import { coreJiffies, coreUse, cpuSeconds, type CoreJiffies } from '../lib/procfs.ts';
import { PROFILES, stepDurationMs, type Profile, type ProfileName } from '../../sim/profiles.ts';
import { simState, snapshot, type WorkerSnapshot } from './sim-probe.ts';

/** CPU seconds of the simulator's process; it must still be there. */
function simCpuSeconds(pid: number): number {
  const s = cpuSeconds(pid);
  if (s === null) throw new Error(`the simulator (pid ${pid}) is gone`);
  return s;
}

function simCoreUse(a: CoreJiffies | null, b: CoreJiffies | null, simPct: number): { otherOnSimCorePct: number | null; irqOnSimCorePct: number | null } {
  const u = coreUse(a, b, simPct);
  return { otherOnSimCorePct: u.otherPct, irqOnSimCorePct: u.irqPct };
}

export interface ClientConfig {
  urls: string[];
  streams: number;
  seconds: number;
  warmup: number;
  maxTokens: number;
  promptTokens: number;
  profile: ProfileName;
  simPid: number;
  simCore: number;
  model: string;
}

export interface ClientResult {
  windowS: number;
  /** Token events delivered to the client inside the window. */
  tokens: number;
  /** Σ inter-chunk gaps / Σ tokens those gaps cover (see onChunk). */
  clientItlMs: number;
  gapSamples: number;
  requestsStarted: number;
  requestsCompleted: number;
  requestErrors: number;
  firstError: string | null;
  clientCpuPct: number;
  simCpuPct: number;
  /** Other processes that ran on the simulator's core during the window, in % of that core. */
  otherOnSimCorePct: number | null;
  /** Interrupt and softirq time on the simulator's core (loopback TCP receive work lands here), in % of that core. */
  irqOnSimCorePct: number | null;
  simItlMs: number;
  simItlSamples: number;
  /** Δ busyMs / Δ steps per worker, weighted by that worker's Δ generated tokens. */
  costModelItlMs: number;
  /** stepDurationMs(decode batch, context) for the batch and KV the workers reported during the window, batch-weighted. */
  costModelSampledItlMs: number;
  meanRunningPerWorker: number;
  meanContextPerSeq: number;
  simTokPerS: number;
  steps: number;
  busyFraction: number;
  maxLagMsAtStart: number;
  maxLagMsAtEnd: number;
  workers: { url: string; steps: number; busyMs: number; tokens: number; stepMs: number; itlMs: number; maxLagMs: number }[];
}

export async function runClient(cfg: ClientConfig): Promise<ClientResult> {
  const profile = PROFILES[cfg.profile] as Profile;
  const perWorker = Math.ceil(cfg.streams / cfg.urls.length);
  const pools = cfg.urls.map((u) => new Pool(u, { connections: perWorker + 2, pipelining: 1, keepAliveTimeout: 60_000, bodyTimeout: 0 }));

  let stopping = false;
  let w0 = Number.POSITIVE_INFINITY;
  let w1 = Number.POSITIVE_INFINITY;
  let gapSum = 0;
  let gapTokens = 0;
  let tokens = 0;
  let started = 0;
  let completed = 0;
  let errors = 0;
  let firstError: string | null = null;
  const NN = Buffer.from('\n\n');
  const DONE = Buffer.from('[DONE]');

  const body = (): string => {
    const ids = new Array<number>(cfg.promptTokens);
    // Ids of 2-byte pieces ((2 − 1)·2³² + a 16-bit value), all in the simulator's vocabulary.
    for (let i = 0; i < ids.length; i++) ids[i] = 2 ** 32 + Math.floor(Math.random() * 65_536);
    return JSON.stringify({ model: cfg.model, prompt: ids, max_tokens: cfg.maxTokens, ignore_eos: true, stream: true });
  };

  // One stream slot: a request at a time, a new one as soon as the previous ends.
  // Start times are spread over one request's expected duration, so that a worker's streams do not
  // run in lock step (all finishing, then all prefilling, in the same steps).
  const batch = cfg.streams / cfg.urls.length;
  const expectedStep = stepDurationMs(profile, { prefillTokens: 0, decodeSeqs: batch, contextTokens: batch * (cfg.promptTokens + cfg.maxTokens / 2), attentionPairs: 0 });
  const spreadMs = expectedStep * cfg.maxTokens;
  const slot = async (i: number): Promise<void> => {
    const pool = pools[i % pools.length]!;
    await new Promise((res) => setTimeout(res, (Math.floor(i / pools.length) / perWorker) * spreadMs));
    while (!stopping) {
      started++;
      let last = 0;
      let seen = false;
      let endedWithNewline = false;
      try {
        const r = await pool.request({ method: 'POST', path: '/v1/completions', headers: { 'content-type': 'application/json' }, body: body() });
        if (r.statusCode !== 200) {
          const t = await r.body.text();
          throw new Error(`HTTP ${r.statusCode}: ${t.slice(0, 200)}`);
        }
        await new Promise<void>((resolveStream, reject) => {
          r.body.on('data', (chunk: Buffer) => {
            const now = performance.now();
            // Count SSE events ("\n\n" terminators, also across chunk boundaries), minus [DONE].
            let k = endedWithNewline && chunk[0] === 0x0a ? 1 : 0;
            for (let p = chunk.indexOf(NN); p !== -1; p = chunk.indexOf(NN, p + 2)) k++;
            endedWithNewline = chunk[chunk.length - 1] === 0x0a;
            if (k > 0 && chunk.includes(DONE)) k--;
            if (k === 0) return;
            if (now >= w0 && now <= w1) tokens += k;
            // A chunk's arrival marks its last token; the gap since the previous chunk covers k tokens.
            // The first chunk is only a reference point (it may hold the first token plus others).
            if (seen && last >= w0 && now <= w1) {
              gapSum += now - last;
              gapTokens += k;
            }
            seen = true;
            last = now;
          });
          r.body.on('end', resolveStream);
          r.body.on('error', reject);
        });
        completed++;
      } catch (e) {
        if (stopping) return;
        errors++;
        firstError ??= String(e);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  };

  const all = Array.from({ length: cfg.streams }, (_, i) => slot(i));
  // One worker at a time: rendering 16 /metrics pages at once would itself stall the simulator's loop.
  const snapAll = async (): Promise<WorkerSnapshot[]> => {
    const out: WorkerSnapshot[] = [];
    for (const u of cfg.urls) out.push(await snapshot(u));
    return out;
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  await sleep(cfg.warmup * 1000);
  const s0 = await snapAll();
  const cpu0 = { sim: simCpuSeconds(cfg.simPid), client: process.cpuUsage(), core: coreJiffies(cfg.simCore), at: performance.now() };
  w0 = performance.now();
  w1 = w0 + cfg.seconds * 1000;
  process.stderr.write(`capacity: window of ${cfg.seconds} s started (${started} requests so far, ${errors} errors)\n`);

  // Batch and KV samples for the cross-check of the cost model.
  let sampledNum = 0;
  let sampledDen = 0;
  let runningSum = 0;
  let ctxSum = 0;
  let samples = 0;
  const bs = profile.blockSize;
  while (performance.now() < w1 - 250) {
    await sleep(500);
    for (const u of cfg.urls) {
      const s = await simState(u);
      samples++;
      runningSum += s.running;
      if (s.running === 0) continue;
      // Tokens held in KV ≈ used blocks × block size, minus half a block per sequence (last block partly filled).
      const ctx = Math.max(s.running, (s.kv.numBlocks - s.kv.free) * bs - (s.running * bs) / 2);
      ctxSum += ctx;
      const step = stepDurationMs(profile, { prefillTokens: 0, decodeSeqs: s.running, contextTokens: ctx, attentionPairs: 0 });
      sampledNum += step * s.running;
      sampledDen += s.running;
    }
  }
  await sleep(Math.max(0, w1 - performance.now()));
  const s1 = await snapAll();
  const cpu1 = { sim: simCpuSeconds(cfg.simPid), client: process.cpuUsage(cpu0.client), core: coreJiffies(cfg.simCore), at: performance.now() };
  const wallS = (cpu1.at - cpu0.at) / 1000;

  stopping = true;
  await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  await Promise.race([Promise.allSettled(all), sleep(2000)]);

  const workers = cfg.urls.map((url, i) => {
    const a = s0[i]!;
    const b = s1[i]!;
    const steps = b.steps - a.steps;
    const busy = b.busyMs - a.busyMs;
    return {
      url,
      steps,
      busyMs: busy,
      tokens: b.generationTokens - a.generationTokens,
      stepMs: steps > 0 ? busy / steps : 0,
      itlMs: b.itlCount > a.itlCount ? ((b.itlSum - a.itlSum) / (b.itlCount - a.itlCount)) * 1000 : 0,
      maxLagMs: b.maxLagMs,
    };
  });
  const simTokens = workers.reduce((x, w) => x + w.tokens, 0);
  const itlSum = s1.reduce((x, b, i) => x + b.itlSum - s0[i]!.itlSum, 0);
  const itlCount = s1.reduce((x, b, i) => x + b.itlCount - s0[i]!.itlCount, 0);
  const steps = workers.reduce((x, w) => x + w.steps, 0);
  const busy = workers.reduce((x, w) => x + w.busyMs, 0);
  return {
    windowS: cfg.seconds,
    tokens,
    clientItlMs: gapSum / gapTokens,
    gapSamples: gapTokens,
    requestsStarted: started,
    requestsCompleted: completed,
    requestErrors: errors,
    firstError,
    clientCpuPct: ((cpu1.client.user + cpu1.client.system) / 1e6 / wallS) * 100,
    simCpuPct: ((cpu1.sim - cpu0.sim) / wallS) * 100,
    ...simCoreUse(cpu0.core, cpu1.core, ((cpu1.sim - cpu0.sim) / wallS) * 100),
    simItlMs: (itlSum / itlCount) * 1000,
    simItlSamples: itlCount,
    costModelItlMs: workers.reduce((x, w) => x + w.stepMs * w.tokens, 0) / simTokens,
    costModelSampledItlMs: sampledNum / sampledDen,
    meanRunningPerWorker: runningSum / samples,
    meanContextPerSeq: ctxSum / sampledDen,
    simTokPerS: simTokens / wallS,
    steps,
    busyFraction: busy / (wallS * 1000 * cfg.urls.length),
    maxLagMsAtStart: Math.max(...s0.map((s) => s.maxLagMs)),
    maxLagMsAtEnd: Math.max(...s1.map((s) => s.maxLagMs)),
    workers,
  };
}

// A budget past warm-up + window: runChild adds another minute before it gives up.
if (isMain(import.meta.url)) await runChild((cfg: ClientConfig) => cfg.warmup + cfg.seconds + 60, runClient);
