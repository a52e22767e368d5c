// The memory phase: opens N concurrent long streams through one URL, and once they are all open
// (each has delivered its first `data:` event) samples the resident memory (VmRSS) of the given
// processes while they stay open; then aborts every stream.
//
// Run in its own process: `node --import tsx bench/overhead/hold.ts '<HoldConfig JSON>'` prints
// `RESULT <HoldResult JSON>`.
import { performance } from 'node:perf_hooks';
import { Pool, type Dispatcher } from 'undici';
import { isMain, runChild } from '../lib/child-main.ts';
import { cpuPercent, cpuSnapshot, memory } from '../lib/procfs.ts';

export interface HoldConfig {
  readonly url: string;
  readonly path: string;
  readonly body: string;
  readonly streams: number;
  /** Streams are opened evenly over this long. */
  readonly rampS: number;
  /** Give up waiting for all streams to open after this long. */
  readonly openTimeoutS: number;
  /** Sampling time once all are open. */
  readonly holdS: number;
  readonly sampleMs: number;
  /** Processes whose memory is sampled (name → pid). */
  readonly memoryOf: Readonly<Record<string, number>>;
}

export interface MemoryStats {
  readonly beforeMB: number;
  /** While every stream was open. */
  readonly maxMB: number;
  readonly meanMB: number;
  /** VmHWM (peak RSS since the process started) at the end of the hold. */
  readonly hwmMB: number;
}

export interface HoldResult {
  readonly requested: number;
  /** Streams that delivered a first event. */
  readonly opened: number;
  readonly openTimeS: number;
  /** Streams still open (not ended, not failed) at each sample: the smallest and largest. */
  readonly openDuringHoldMin: number;
  readonly openDuringHoldMax: number;
  readonly samples: number;
  readonly errors: number;
  readonly firstError: string | null;
  /** SSE events delivered per second during the hold (all streams together). */
  readonly eventsPerS: number;
  readonly memory: Readonly<Record<string, MemoryStats>>;
  readonly cpuPct: Readonly<Record<string, number | null>>;
}

const MB = 1024 * 1024;
const NN = Buffer.from('\n\n');

export async function runHold(cfg: HoldConfig): Promise<HoldResult> {
  const pool = new Pool(cfg.url, { connections: cfg.streams + 16, pipelining: 1, headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 60_000 });
  const body = Buffer.from(cfg.body);
  const headers = { 'content-type': 'application/json' };
  const controllers: Dispatcher.DispatchController[] = [];
  let opened = 0;
  let open = 0;
  let errors = 0;
  let firstError: string | null = null;
  let events = 0;
  let stopping = false;

  const before: Record<string, number> = {};
  for (const [name, pid] of Object.entries(cfg.memoryOf)) before[name] = (memory(pid)?.rss ?? NaN) / MB;

  const start = (): void => {
    let first = false;
    let done = false;
    open++;
    const finish = (err: string | null): void => {
      if (done) return;
      done = true;
      open--;
      if (err !== null && !stopping) {
        errors++;
        firstError ??= err;
      }
    };
    pool.dispatch(
      { path: cfg.path, method: 'POST', headers, body },
      {
        onRequestStart(c) {
          controllers.push(c);
        },
        onResponseStart(_c, status) {
          if (status !== 200) finish(`HTTP ${status}`);
        },
        onResponseData(_c, chunk) {
          if (!first) {
            first = true;
            opened++;
          }
          for (let p = chunk.indexOf(NN); p !== -1; p = chunk.indexOf(NN, p + 2)) events++;
        },
        onResponseEnd() {
          finish(stopping ? null : 'stream ended during the hold');
        },
        onResponseError(_c, err) {
          finish(`${(err as { code?: string }).code ?? err.name}: ${err.message}`);
        },
      },
    );
  };

  // Ramp: evenly over rampS, on an absolute schedule.
  const t0 = performance.now();
  const gap = (cfg.rampS * 1000) / cfg.streams;
  let started = 0;
  await new Promise<void>((done) => {
    const tick = (): void => {
      const due = Math.min(cfg.streams, Math.floor((performance.now() - t0) / gap) + 1);
      while (started < due) {
        start();
        started++;
      }
      if (started >= cfg.streams) done();
      else setTimeout(tick, Math.max(1, gap));
    };
    tick();
  });

  const openDeadline = t0 + cfg.openTimeoutS * 1000;
  while (opened < cfg.streams && performance.now() < openDeadline && open > 0) await new Promise((r) => setTimeout(r, 50));
  const openTimeS = (performance.now() - t0) / 1000;

  const samples: Record<string, number[]> = {};
  for (const name of Object.keys(cfg.memoryOf)) samples[name] = [];
  let openMin = Number.POSITIVE_INFINITY;
  let openMax = 0;
  let n = 0;
  const e0 = events;
  const h0 = performance.now();
  const groups = Object.fromEntries(Object.entries(cfg.memoryOf).map(([k, v]) => [k, [v]]));
  const cpu0 = cpuSnapshot(groups);
  while (performance.now() - h0 < cfg.holdS * 1000) {
    for (const [name, pid] of Object.entries(cfg.memoryOf)) {
      const m = memory(pid);
      if (m) samples[name]!.push(m.rss / MB);
    }
    openMin = Math.min(openMin, open);
    openMax = Math.max(openMax, open);
    n++;
    await new Promise((r) => setTimeout(r, cfg.sampleMs));
  }
  const holdS = (performance.now() - h0) / 1000;
  const cpuPct = cpuPercent(cpu0, cpuSnapshot(groups), holdS);
  const eventsPerS = (events - e0) / holdS;

  const mem: Record<string, MemoryStats> = {};
  for (const [name, pid] of Object.entries(cfg.memoryOf)) {
    const s = samples[name]!;
    mem[name] = {
      beforeMB: before[name]!,
      maxMB: s.length ? Math.max(...s) : NaN,
      meanMB: s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN,
      hwmMB: (memory(pid)?.hwm ?? NaN) / MB,
    };
  }

  stopping = true;
  for (const c of controllers) c.abort(new Error('hold over'));
  await pool.destroy().catch(() => undefined);
  return {
    requested: cfg.streams,
    opened,
    openTimeS,
    openDuringHoldMin: Number.isFinite(openMin) ? openMin : 0,
    openDuringHoldMax: openMax,
    samples: n,
    errors,
    firstError,
    eventsPerS,
    memory: mem,
    cpuPct,
  };
}

if (isMain(import.meta.url)) await runChild((cfg: HoldConfig) => cfg.rampS + cfg.openTimeoutS + cfg.holdS, runHold);
