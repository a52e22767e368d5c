// Open-loop load generator over undici: sends the same request at a fixed rate, whatever the
// answers do (a request is never held back by an earlier one), and measures each request's TTFT
// and end-to-end time. One point = warm-up + a measurement window at one rate.
//
// The schedule is absolute: request i is due at t0 + i/rate (or, with `poisson`, at the sum of
// exponential gaps), and each timer tick sends every request already due, so timer jitter never
// accumulates into drift. Latencies are measured from the moment the request is handed to undici
// (`sendLag` = that moment − due time, reported so that a lagging generator is visible).
//
//   TTFT   first body chunk that holds the first SSE `data:` event (streaming), or the first body
//          byte (non-streaming), minus the send time.
//   e2e    end of the response body minus the send time.
//   ok     status 200 and a complete answer: a stream ends with `data: [DONE]` after at least
//          `expectEvents` events; a JSON answer holds `"choices"`.
//
// Measured requests are the ones sent inside the window; they are waited for until `drainS`
// after the window, and any still open then counts as an error (`timeout`). The achieved rate is
// the number of successful completions (of any request) that landed inside the window, divided
// by its length: in a steady state it equals the offered rate, and it falls short when the
// system cannot keep up.
//
// For the cost per unit of work, the CPU window (from the first request sent inside the window to
// its end) also records what completed inside it: successful responses, and SSE events delivered
// (data events other than `[DONE]`: one per token here) by any stream, and — when `varzUrl` is
// set — nats-server's message and byte counters at both ends.
//
// Run in its own process: `node --import tsx bench/overhead/loadgen.ts '<LoadConfig JSON>'`
// prints `RESULT <PointResult JSON>`.
import { performance } from 'node:perf_hooks';
import { Pool, type Dispatcher } from 'undici';
import { isMain, runChild } from '../lib/child-main.ts';
import { countersDelta, readVarz, type NatsCounters } from '../lib/nats-varz.ts';
import { cpuPercent, cpuSnapshot, machineSeconds } from '../lib/procfs.ts';
import { summarize, type Summary } from '../lib/stats.ts';

export interface LoadConfig {
  /** Base URLs; requests go round robin across them (the direct arm) or all to one (a proxy). */
  readonly targets: readonly string[];
  readonly path: string;
  readonly body: string;
  readonly stream: boolean;
  /** A stream is complete only with at least this many SSE events before `[DONE]`. */
  readonly expectEvents: number;
  readonly rate: number;
  readonly warmupS: number;
  readonly seconds: number;
  readonly drainS: number;
  /** Upper bound on connections per target (undici opens them as concurrency needs). */
  readonly connectionsPerTarget: number;
  readonly poisson: boolean;
  /** Processes whose CPU use over the window is reported (name → pids). */
  readonly cpuOf: Readonly<Record<string, readonly number[]>>;
  /** nats-server's monitoring URL, read at both ends of the window (the router arm), or null. */
  readonly varzUrl: string | null;
}

/** The CPU window: its length, and the work that completed inside it (for the cost per unit of work). */
export interface WorkWindow {
  readonly wallS: number;
  /** Successful responses that ended inside it. */
  readonly completions: number;
  /** SSE data events (not `[DONE]`) delivered inside it, by any stream. */
  readonly events: number;
}

export interface PointResult {
  readonly offeredRate: number;
  readonly windowS: number;
  /** Requests sent in total, and inside the window (the measured ones). */
  readonly sent: number;
  readonly measured: number;
  readonly ok: number;
  readonly errors: number;
  readonly errorRate: number;
  readonly errorKinds: Readonly<Record<string, number>>;
  readonly firstError: string | null;
  /** Successful completions inside the window per second. */
  readonly achievedRate: number;
  /** Of the measured requests that succeeded, in ms. */
  readonly ttftMs: Summary;
  readonly e2eMs: Summary;
  /** Send time − due time, in ms (all measured requests). */
  readonly sendLagMs: Summary;
  /** Largest number of requests open at once during the window. */
  readonly maxOpen: number;
  /**
   * % of one core, over the window, per process group of `cpuOf`, plus `loadgen` (this process),
   * `other` (processes that are not ours: other work on the box), `irq` (irq + softirq, mostly
   * loopback TCP of our own traffic) and `steal` (the hypervisor's other guests).
   */
  readonly cpuPct: Readonly<Record<string, number | null>>;
  readonly window: WorkWindow;
  /** nats-server's traffic over the window (null without `varzUrl`, or when /varz did not answer). */
  readonly nats: NatsCounters | null;
}

interface Tracked {
  readonly due: number;
  readonly sent: number;
  readonly measured: boolean;
  first: number;
  end: number;
  status: number;
  events: number;
  tail: string;
  endedWithNewline: boolean;
  error: string | null;
  done: boolean;
  controller: Dispatcher.DispatchController | null;
}

const NN = Buffer.from('\n\n');
const DATA = Buffer.from('data:');

export async function runPoint(cfg: LoadConfig): Promise<PointResult> {
  const pools = cfg.targets.map(
    (t) => new Pool(t, { connections: cfg.connectionsPerTarget, pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000, headersTimeout: 0, bodyTimeout: 0, connect: { noDelay: true } }),
  );
  const headers = { 'content-type': 'application/json' };
  const body = Buffer.from(cfg.body);
  const interval = 1000 / cfg.rate;

  const measured: Tracked[] = [];
  const lags: number[] = [];
  const errorKinds: Record<string, number> = {};
  let firstError: string | null = null;
  let sent = 0;
  let open = 0;
  let maxOpen = 0;
  let okInWindow = 0;
  // Running totals, read at both ends of the CPU window.
  let okTotal = 0;
  let eventsTotal = 0;
  let pendingMeasured = 0;
  let onDrained: (() => void) | null = null;

  const t0 = performance.now() + 20;
  const w0 = t0 + cfg.warmupS * 1000;
  const w1 = w0 + cfg.seconds * 1000;

  const settle = (r: Tracked, error: string | null): void => {
    if (r.done) return;
    r.done = true;
    r.end = performance.now();
    r.controller = null;
    open--;
    if (error === null && cfg.stream && (!r.tail.includes('[DONE]') || r.events < cfg.expectEvents + 1)) error = `truncated (${r.events} events)`;
    if (error === null && !cfg.stream && !r.tail.includes('"choices"')) error = 'malformed JSON answer';
    r.error = error;
    // The `[DONE]` terminator was counted as an event when it arrived; it is not a token.
    if (cfg.stream && r.status === 200 && r.tail.includes('[DONE]')) eventsTotal--;
    if (error === null) {
      okTotal++;
      if (r.end >= w0 && r.end < w1) okInWindow++;
    } else if (r.measured) {
      const kind = error.startsWith('HTTP ') ? error.slice(0, 8) : error.startsWith('truncated') ? 'truncated' : error.split(':')[0]!;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
      firstError ??= error;
    }
    if (r.measured && --pendingMeasured === 0 && onDrained) onDrained();
  };

  const fire = (due: number, measure: boolean): void => {
    const pool = pools[sent % pools.length]!;
    sent++;
    open++;
    if (open > maxOpen && measure) maxOpen = open;
    const now = performance.now();
    const r: Tracked = { due, sent: now, measured: measure, first: 0, end: 0, status: 0, events: 0, tail: '', endedWithNewline: false, error: null, done: false, controller: null };
    if (measure) {
      measured.push(r);
      lags.push(now - due);
      pendingMeasured++;
    }
    pool.dispatch(
      { path: cfg.path, method: 'POST', headers, body },
      {
        onRequestStart(controller) {
          r.controller = controller;
        },
        onResponseStart(_c, statusCode) {
          r.status = statusCode;
        },
        onResponseData(_c, chunk) {
          if (r.first === 0 && (!cfg.stream || chunk.includes(DATA))) r.first = performance.now();
          if (r.status !== 200) {
            r.tail = (r.tail + chunk.toString('latin1')).slice(-300);
            return;
          }
          if (cfg.stream) {
            // Count SSE events ("\n\n" terminators, also across chunk boundaries).
            let k = r.endedWithNewline && chunk[0] === 0x0a ? 1 : 0;
            for (let p = chunk.indexOf(NN); p !== -1; p = chunk.indexOf(NN, p + 2)) k++;
            r.events += k;
            eventsTotal += k;
            r.endedWithNewline = chunk[chunk.length - 1] === 0x0a;
            r.tail = (r.tail + chunk.toString('latin1')).slice(-32);
          } else if (r.tail.length < 100_000) {
            r.tail += chunk.toString('latin1');
          }
        },
        onResponseEnd() {
          settle(r, r.status === 200 ? null : `HTTP ${r.status}: ${r.tail.slice(0, 200)}`);
        },
        onResponseError(_c, err) {
          const code = (err as { code?: string }).code;
          settle(r, `${code ?? err.name}: ${err.message}`);
        },
      },
    );
  };

  const cpu0 = { at: 0, snap: {} as Record<string, number | null>, self: process.cpuUsage(), machine: null as ReturnType<typeof machineSeconds>, ok: 0, events: 0 };
  // /varz is read asynchronously, right after each CPU snapshot.
  const varz: Promise<NatsCounters | null>[] = [];
  let cpu1: typeof cpu0 | null = null;

  // The sender: every request already due goes out on each tick.
  await new Promise<void>((resolveSending) => {
    let i = 0;
    let next = t0;
    let inWindow = false;
    const tick = (): void => {
      const now = performance.now();
      while (next <= now && next < w1) {
        if (!inWindow && next >= w0) {
          inWindow = true;
          cpu0.at = performance.now();
          cpu0.snap = cpuSnapshot(cfg.cpuOf);
          cpu0.self = process.cpuUsage();
          cpu0.machine = machineSeconds();
          cpu0.ok = okTotal;
          cpu0.events = eventsTotal;
          if (cfg.varzUrl) varz.push(readVarz(cfg.varzUrl));
          maxOpen = open;
        }
        fire(next, next >= w0);
        i++;
        next = cfg.poisson ? next - Math.log(1 - Math.random()) * interval : t0 + i * interval;
      }
      if (next >= w1) {
        const wait = w1 - performance.now();
        setTimeout(
          () => {
            cpu1 = { at: performance.now(), snap: cpuSnapshot(cfg.cpuOf), self: process.cpuUsage(cpu0.self), machine: machineSeconds(), ok: okTotal, events: eventsTotal };
            if (cfg.varzUrl) varz.push(readVarz(cfg.varzUrl));
            resolveSending();
          },
          Math.max(0, wait),
        );
        return;
      }
      setTimeout(tick, Math.max(0, next - performance.now() - 0.5));
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });

  // Drain: wait for the measured requests, then give up on the rest.
  if (pendingMeasured > 0) {
    await new Promise<void>((resolveDrain) => {
      onDrained = resolveDrain;
      setTimeout(resolveDrain, cfg.drainS * 1000);
    });
  }
  for (const r of measured) {
    if (!r.done) {
      r.controller?.abort(new Error('drain timeout'));
      settle(r, `timeout: not finished ${cfg.drainS} s after the window`);
    }
  }
  await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));

  const c1 = cpu1 as typeof cpu0 | null;
  const wallS = c1 ? (c1.at - cpu0.at) / 1000 : cfg.seconds;
  const cpuPct = c1 ? cpuPercent(cpu0.snap, c1.snap, wallS) : {};
  if (c1) {
    cpuPct.loadgen = ((c1.self.user + c1.self.system) / 1e6 / wallS) * 100;
    const m0 = cpu0.machine;
    const m1 = c1.machine;
    if (m0 && m1) {
      const ours = Object.values(cpuPct).reduce<number>((a, x) => a + (x ?? 0), 0);
      cpuPct.other = Math.max(0, ((m1.processes - m0.processes) / wallS) * 100 - ours);
      cpuPct.irq = ((m1.irq - m0.irq) / wallS) * 100;
      cpuPct.steal = ((m1.steal - m0.steal) / wallS) * 100;
    }
  }

  const [v0, v1] = await Promise.all(varz);
  const good = measured.filter((r) => r.error === null);
  const errors = measured.length - good.length;
  return {
    offeredRate: cfg.rate,
    windowS: cfg.seconds,
    sent,
    measured: measured.length,
    ok: good.length,
    errors,
    errorRate: measured.length > 0 ? errors / measured.length : 1,
    errorKinds,
    firstError,
    achievedRate: okInWindow / cfg.seconds,
    ttftMs: summarize(good.map((r) => r.first - r.sent)),
    e2eMs: summarize(good.map((r) => r.end - r.sent)),
    sendLagMs: summarize(lags),
    maxOpen,
    cpuPct,
    window: { wallS, completions: c1 ? c1.ok - cpu0.ok : 0, events: c1 ? c1.events - cpu0.events : 0 },
    nats: countersDelta(v0 ?? null, v1 ?? null),
  };
}

if (isMain(import.meta.url)) await runChild((cfg: LoadConfig) => cfg.warmupS + cfg.seconds + cfg.drainS, runPoint);
