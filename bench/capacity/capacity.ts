// Capacity benchmark of the simulator: ONE `llm-router sim` process (16 workers by default) pinned to
// one core keeps N concurrent streams going while its inter-token latency stays what the cost model
// says. A load-generating client, pinned to the other core, keeps `--streams` streaming completions
// open (ignore_eos, a fresh request as soon as one ends) and measures each stream's inter-chunk gaps.
//
//   node --import tsx bench/capacity/capacity.ts [--workers 16] [--streams 500] [--seconds 20]
//        [--warmup 5] [--max-tokens 256] [--prompt-tokens 128] [--profile llama-3.1-8b-h100]
//        [--sim-core 0] [--client-core 1] [--cpu-prof <dir>] [--sim-node-arg <flag>]… [--sim-log <file>]
//        [--tolerance 5] [--out bench/results/sim-capacity.json]
//
// PASS when both the client-measured mean ITL and the simulator's own ITL histogram mean are within
// 5 % of the cost model's ITL for the steps the workers actually ran (Δ busyMs / Δ steps from
// /_sim/state, weighted by each worker's generated tokens). Writes bench/results/sim-capacity.json.
// The table also shows what else ran on the simulator's core (other processes, IRQ/softirq): on a
// shared machine a FAIL with "contended" next to it says more about the neighbours than the simulator.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool, request } from 'undici';
import { freePortRange } from '../../runtime/net.ts';
import { hasTaskset } from '../lib/procs.ts';
import { isProfileName, PROFILES, stepDurationMs, type Profile, type ProfileName } from '../../sim/profiles.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

interface Options {
  workers: number;
  streams: number;
  seconds: number;
  warmup: number;
  maxTokens: number;
  promptTokens: number;
  profile: ProfileName;
  simCore: number;
  clientCore: number;
  cpuProf: string | null;
  /** Extra node flags for the simulator process (e.g. --max-semi-space-size=32, --trace-gc). */
  simNodeArgs: string[];
  /** Append the simulator's stdout and stderr to this file. */
  simLog: string | null;
  out: string;
  tolerancePct: number;
}

const DEFAULTS: Options = {
  workers: 16,
  streams: 500,
  seconds: 20,
  warmup: 5,
  maxTokens: 256,
  promptTokens: 128,
  profile: 'llama-3.1-8b-h100',
  simCore: 0,
  clientCore: 1,
  cpuProf: null,
  simNodeArgs: [],
  simLog: null,
  out: join(ROOT, 'bench', 'results', 'sim-capacity.json'),
  tolerancePct: 5,
};

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { ...DEFAULTS, simNodeArgs: [] };
  const num = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`${flag} needs a number ≥ ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--workers': o.workers = Math.floor(num(flag, value(), 1)); break;
      case '--streams': o.streams = Math.floor(num(flag, value(), 1)); break;
      case '--seconds': o.seconds = num(flag, value(), 1); break;
      case '--warmup': o.warmup = num(flag, value(), 0); break;
      case '--max-tokens': o.maxTokens = Math.floor(num(flag, value(), 2)); break;
      case '--prompt-tokens': o.promptTokens = Math.floor(num(flag, value(), 1)); break;
      case '--sim-core': o.simCore = Math.floor(num(flag, value(), 0)); break;
      case '--client-core': o.clientCore = Math.floor(num(flag, value(), 0)); break;
      case '--tolerance': o.tolerancePct = num(flag, value(), 0); break;
      case '--cpu-prof': o.cpuProf = resolve(value() ?? 'cpu-prof'); break;
      case '--sim-node-arg': o.simNodeArgs.push(value() ?? ''); break;
      case '--sim-log': o.simLog = resolve(value() ?? 'sim.log'); break;
      case '--out': o.out = resolve(value() ?? o.out); break;
      case '--profile': {
        const p = value() ?? '';
        if (!isProfileName(p)) throw new Error(`unknown profile ${p}`);
        o.profile = p;
        break;
      }
      default:
        throw new Error(`unknown flag ${a}`);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Shared: what the simulator tells about itself
// ---------------------------------------------------------------------------------------------

interface WorkerSnapshot {
  running: number;
  usedBlocks: number;
  steps: number;
  busyMs: number;
  generationTokens: number;
  maxLagMs: number;
  itlSum: number;
  itlCount: number;
}

interface SimState {
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

async function simState(base: string): Promise<SimState> {
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

async function snapshot(base: string): Promise<WorkerSnapshot> {
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

/** utime + stime of a process, in seconds (/proc/<pid>/stat fields 14 and 15). */
function cpuSeconds(pid: number, clkTck: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14 → index 11, stime field 15 → index 12.
  return (Number(fields[11]) + Number(fields[12])) / clkTck;
}

/** Busy, interrupt and total jiffies of one CPU core (/proc/stat "cpuN" line). */
function coreJiffies(core: number): { busy: number; irq: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`cpu${core} `));
    if (!line) return null;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, x) => a + x, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    // user nice system idle iowait irq softirq steal …
    return { busy: total - idle, irq: (v[5] ?? 0) + (v[6] ?? 0), total };
  } catch {
    return null;
  }
}

function coreLoad(
  a: { busy: number; irq: number; total: number } | null,
  b: { busy: number; irq: number; total: number } | null,
  simPct: number,
): { otherOnSimCorePct: number | null; irqOnSimCorePct: number | null } {
  if (!a || !b || b.total <= a.total) return { otherOnSimCorePct: null, irqOnSimCorePct: null };
  const span = b.total - a.total;
  const irq = ((b.irq - a.irq) / span) * 100;
  const busy = ((b.busy - a.busy) / span) * 100;
  return { otherOnSimCorePct: Math.max(0, busy - irq - simPct), irqOnSimCorePct: irq };
}

function clockTicks(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
}

// ---------------------------------------------------------------------------------------------
// Client (runs in its own process, pinned to the client core)
// ---------------------------------------------------------------------------------------------

interface ClientConfig {
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

async function runClient(cfg: ClientConfig): Promise<ClientResult> {
  const profile = PROFILES[cfg.profile] as Profile;
  const clkTck = clockTicks();
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
    for (let i = 0; i < ids.length; i++) ids[i] = Math.floor(Math.random() * 128_000);
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
  const cpu0 = { sim: cpuSeconds(cfg.simPid, clkTck), client: process.cpuUsage(), core: coreJiffies(cfg.simCore), at: performance.now() };
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
  const cpu1 = { sim: cpuSeconds(cfg.simPid, clkTck), client: process.cpuUsage(cpu0.client), core: coreJiffies(cfg.simCore), at: performance.now() };
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
    ...coreLoad(cpu0.core, cpu1.core, ((cpu1.sim - cpu0.sim) / wallS) * 100),
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

// ---------------------------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------------------------

const children = new Set<ChildProcess>();

function killAll(signal: NodeJS.Signals): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, signal);
      } catch {
        /* already gone */
      }
    }
  }
}

function exited(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((r) => c.once('exit', () => r()));
}

async function stopChild(c: ChildProcess, graceMs: number): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await exited(c);
  clearTimeout(t);
}

function pinned(core: number, cmd: string[], useTaskset: boolean): [string, string[]] {
  return useTaskset ? ['taskset', ['-c', String(core), ...cmd]] : [cmd[0]!, cmd.slice(1)];
}

async function startSim(o: Options, basePort: number, useTaskset: boolean): Promise<{ child: ChildProcess; urls: string[] }> {
  const node = [process.execPath, ...o.simNodeArgs, ...(o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProf] : []), join(ROOT, 'bin', 'llm-router.js')];
  const args = ['sim', '--workers', String(o.workers), '--base-port', String(basePort), '--profile', o.profile];
  const [cmd, argv] = pinned(o.simCore, [...node, ...args], useTaskset);
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const urls: string[] = [];
  let stderr = '';
  const log = o.simLog ? createWriteStream(o.simLog, { flags: 'a' }) : null;
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
    log?.write(d);
  });
  child.stdout!.on('data', (d: Buffer) => log?.write(d));
  child.once('exit', () => log?.end());
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`simulator not ready after 60 s; stderr: ${stderr.slice(-2000)}`)), 60_000);
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^sim: (http:\/\/\S+)/.exec(line);
        if (m) urls.push(m[1]!);
        if (urls.length === o.workers) {
          clearTimeout(timer);
          resolveReady();
        }
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`simulator exited early (${code ?? sig}); stderr: ${stderr.slice(-2000)}`));
    });
  });
  return { child, urls };
}

async function runClientProcess(o: Options, cfg: ClientConfig, useTaskset: boolean): Promise<ClientResult> {
  const [cmd, argv] = pinned(o.clientCore, [process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--client', JSON.stringify(cfg)], useTaskset);
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const timeoutMs = (cfg.warmup + cfg.seconds + 60) * 1000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited(child);
  clearTimeout(timer);
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`client failed (exit ${child.exitCode ?? child.signalCode}): ${out.slice(-2000)}`);
  return JSON.parse(line.slice('RESULT '.length)) as ClientResult;
}

function pct(a: number, b: number): number {
  return ((a - b) / b) * 100;
}

async function orchestrate(o: Options): Promise<number> {
  const useTaskset = hasTaskset();
  if (!useTaskset) process.stderr.write('capacity: taskset not found, running unpinned\n');
  // Keep this process (which only orchestrates) off the simulator's core.
  if (useTaskset) spawnSync('taskset', ['-a', '-p', '-c', String(o.clientCore), String(process.pid)], { stdio: 'ignore' });
  if (o.cpuProf) mkdirSync(o.cpuProf, { recursive: true });

  const basePort = await freePortRange(o.workers);
  const { child: sim, urls } = await startSim(o, basePort, useTaskset);
  process.stderr.write(`capacity: simulator pid ${sim.pid} on core ${o.simCore}, ${o.workers} workers at ${urls[0]} …; ${o.streams} streams for ${o.warmup} s warm-up + ${o.seconds} s\n`);
  let r: ClientResult;
  try {
    r = await runClientProcess(
      o,
      { urls, streams: o.streams, seconds: o.seconds, warmup: o.warmup, maxTokens: o.maxTokens, promptTokens: o.promptTokens, profile: o.profile, simPid: sim.pid!, simCore: o.simCore, model: PROFILES[o.profile].model },
      useTaskset,
    );
  } finally {
    // SIGTERM lets the simulator stop its workers and exit normally, which also writes --cpu-prof.
    await stopChild(sim, 10_000);
  }

  const devClient = pct(r.clientItlMs, r.costModelItlMs);
  const devSim = pct(r.simItlMs, r.costModelItlMs);
  const pass = Math.abs(devClient) <= o.tolerancePct && Math.abs(devSim) <= o.tolerancePct && r.requestErrors === 0;
  const rows: [string, string][] = [
    ['Workers / streams', `${o.workers} / ${o.streams} (profile ${o.profile}, prompt ${o.promptTokens}, max_tokens ${o.maxTokens}, ignore_eos)`],
    ['Window', `${r.windowS} s after ${o.warmup} s warm-up; ${r.requestsCompleted} requests completed, ${r.requestErrors} errors`],
    ['Tokens/s delivered (client)', r.tokens / r.windowS >= 1000 ? `${Math.round(r.tokens / r.windowS).toLocaleString('en-US')}` : (r.tokens / r.windowS).toFixed(1)],
    ['Tokens/s generated (sim)', Math.round(r.simTokPerS).toLocaleString('en-US')],
    ['Mean running per worker', r.meanRunningPerWorker.toFixed(1)],
    ['Mean client ITL', `${r.clientItlMs.toFixed(3)} ms (${r.gapSamples.toLocaleString('en-US')} gaps)`],
    ['Mean simulated ITL (vllm:inter_token_latency_seconds)', `${r.simItlMs.toFixed(3)} ms (${r.simItlSamples.toLocaleString('en-US')} samples)`],
    ['Cost-model ITL (Δ busyMs / Δ steps, token-weighted)', `${r.costModelItlMs.toFixed(3)} ms`],
    ['Cost-model ITL (stepDurationMs at sampled batch/KV)', `${r.costModelSampledItlMs.toFixed(3)} ms (mean ctx ${Math.round(r.meanContextPerSeq)} tokens)`],
    ['Deviation client / sim vs cost model', `${devClient >= 0 ? '+' : ''}${devClient.toFixed(2)} % / ${devSim >= 0 ? '+' : ''}${devSim.toFixed(2)} %`],
    ['Sim process CPU (one core = 100 %)', `${r.simCpuPct.toFixed(1)} %`],
    ['Other processes / IRQ+softirq on the sim core', r.otherOnSimCorePct === null || r.irqOnSimCorePct === null ? 'n/a' : `${r.otherOnSimCorePct.toFixed(1)} % / ${r.irqOnSimCorePct.toFixed(1)} %${r.otherOnSimCorePct > 5 ? ' (contended: other processes shared the core)' : ''}`],
    ['Client process CPU', `${r.clientCpuPct.toFixed(1)} %`],
    ['Sim busy fraction (simulated busy / wall, per worker)', `${(r.busyFraction * 100).toFixed(1)} %`],
    ['Max engine-loop lag (at window start / end)', `${r.maxLagMsAtStart.toFixed(1)} / ${r.maxLagMsAtEnd.toFixed(1)} ms`],
    ['Result', `${pass ? 'PASS' : 'FAIL'} (|mean ITL − cost model| ≤ ${o.tolerancePct} %, no request errors)`],
  ];
  process.stdout.write(['| Metric | Value |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n') + '\n');
  if (r.firstError) process.stdout.write(`first request error: ${r.firstError}\n`);
  process.stdout.write(`${pass ? 'PASS' : 'FAIL'}\n`);

  const report = {
    command: `node --import tsx bench/capacity/capacity.ts --workers ${o.workers} --streams ${o.streams} --seconds ${o.seconds}`,
    date: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version, pinned: useTaskset, simCore: o.simCore, clientCore: o.clientCore },
    options: o,
    result: {
      pass,
      workers: o.workers,
      streams: o.streams,
      tokensPerSecondDelivered: r.tokens / r.windowS,
      tokensPerSecondGenerated: r.simTokPerS,
      meanClientItlMs: r.clientItlMs,
      meanSimItlMs: r.simItlMs,
      costModelItlMs: r.costModelItlMs,
      costModelSampledItlMs: r.costModelSampledItlMs,
      deviationClientPct: devClient,
      deviationSimPct: devSim,
      simCpuPct: r.simCpuPct,
      otherProcessesOnSimCorePct: r.otherOnSimCorePct,
      contended: (r.otherOnSimCorePct ?? 0) > 5,
      irqOnSimCorePct: r.irqOnSimCorePct,
      clientCpuPct: r.clientCpuPct,
      maxLagMs: r.maxLagMsAtEnd,
      maxLagMsAtWindowStart: r.maxLagMsAtStart,
    },
    detail: r,
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`wrote ${o.out}\n`);
  return pass ? 0 : 1;
}

async function main(argv: readonly string[]): Promise<void> {
  const ci = argv.indexOf('--client');
  if (ci >= 0) {
    // Never outlive the orchestrator, nor a run that should long be over.
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) process.exit(3);
    }, 1000).unref();
    const cfg = JSON.parse(argv[ci + 1]!) as ClientConfig;
    setTimeout(() => process.exit(4), (cfg.warmup + cfg.seconds + 120) * 1000).unref();
    const r = await runClient(cfg);
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    process.exit(0);
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\nimport ')[0]!.replace(/^\/\/ ?/gm, '') + '\n');
    return;
  }
  let o: Options;
  try {
    o = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`capacity: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
  process.once('exit', () => killAll('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll('SIGKILL');
      process.exit(130);
    });
  }
  let code = 1;
  try {
    code = await orchestrate(o);
  } catch (e) {
    process.stderr.write(`capacity: ${e instanceof Error ? e.message : String(e)}\n`);
  } finally {
    killAll('SIGKILL');
  }
  process.exit(code);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  await main(process.argv.slice(2));
}
