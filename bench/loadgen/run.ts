// Drives one benchmark run: a workload (workloads.ts) sent on an arrival process (arrivals.ts)
// through the streaming client (client.ts), then summarised (summary.ts) with the keys of
// `vllm bench serve --save-result`.
//
// Phases. `numWarmups` requests go first, on the same load shape; the run waits for all of them,
// then the measured phase starts and its clock with it (warm-ups never enter the summary, but are
// kept in `records` with `warmup: true`). With `warmupS`, the measured phase itself begins with
// that many seconds of the same arrivals that are not measured either: a server under open-loop
// load fills its batches and queues over a request's lifetime, and requests sent into an empty
// one would report latencies it never has in steady state. The measured phase ends after
// `numPrompts` measured requests or once `durationS` has passed since the end of the warm-up
// (whichever comes first; neither: 1,000 requests, as vLLM), then waits for everything in flight.
// `duration` runs from the start of the measured window to its last answer, as vLLM's benchmark
// duration does.
//
// Sending. Request i is due at its arrival time, on an absolute schedule (timer jitter does not
// accumulate). It then waits, in order, for a free slot under `maxConcurrency`, and for the
// workload to have something to send; the wait shows in its record as `queueMs`.
//
// Multi-turn. The arrival process governs *turns* (requests), not session starts: each due
// request goes to the session that has been waiting longest for its next turn; when every one of
// the S sessions is awaiting an answer the request waits for the first answer. So a session's next
// turn is never sent before its previous one completed, S bounds the requests in flight, the
// offered rate is a request rate comparable across workloads (the x-axis of a sweep), and at low
// rates the gap between a session's turns acts as user think time. `numPrompts` counts requests.
import { performance } from 'node:perf_hooks';
import { arrivalTimes, LOAD_DEFAULTS, validateLoad, type LoadShape } from './arrivals.ts';
import { createAgent, sendRequest, type RequestResult } from './client.ts';
import { substream } from '../lib/prng.ts';
import { summarize, type BenchSummary, type RequestOutcome } from './summary.ts';
import { createSource, resolveWorkload, type RequestSource, type Route, type WorkItem, type WorkloadInput, type WorkloadSpec } from './workloads.ts';

export interface RunSpec {
  /** Origin of the server, e.g. `http://127.0.0.1:8000` (a router or one worker). */
  readonly baseUrl: string;
  readonly model: string;
  /** A workload kind with any of its options; the rest default (WORKLOAD_DEFAULTS). */
  readonly workload: WorkloadInput;
  readonly seed?: number;
  /** Requests per second; Infinity (the default) sends them all at once, capped by maxConcurrency. */
  readonly requestRate?: number;
  readonly burstiness?: number;
  readonly maxConcurrency?: number | null;
  readonly numPrompts?: number;
  readonly durationS?: number;
  readonly numWarmups?: number;
  /** Seconds of unmeasured arrivals at the same rate before the measured window (steady state). */
  readonly warmupS?: number;
  /** Per-request deadline (connect to last byte). */
  readonly requestTimeoutS?: number;
  /** Requests carry `x-request-id: <prefix><index>`; null sends none. */
  readonly requestIdPrefix?: string | null;
  /** Keep each answer's text in its record (vLLM's `generated_texts`). */
  readonly keepText?: boolean;
  /** Aborting stops sending; what is in flight is still awaited. */
  readonly signal?: AbortSignal;
}

export interface ResolvedRunSpec extends LoadShape {
  readonly baseUrl: string;
  readonly model: string;
  readonly workload: WorkloadSpec;
  readonly seed: number;
  readonly numPrompts: number | null;
  readonly durationS: number | null;
  readonly numWarmups: number;
  readonly warmupS: number;
  readonly requestTimeoutS: number;
  readonly requestIdPrefix: string | null;
  readonly keepText: boolean;
}

export const RUN_DEFAULTS = Object.freeze({
  seed: 0,
  numPrompts: 1000,
  numWarmups: 0,
  warmupS: 0,
  requestTimeoutS: 120,
  requestIdPrefix: 'bench-',
  keepText: false,
  ...LOAD_DEFAULTS,
});

export interface RequestRecord extends RequestOutcome {
  /** Order of sending, over warm-ups and measured requests. */
  readonly index: number;
  readonly warmup: boolean;
  readonly route: Route;
  readonly sessionId: string | null;
  readonly turn: number | null;
  /** What the workload asked for; on the simulator the server's counts equal these. */
  readonly expectedInputTokens: number;
  readonly expectedOutputTokens: number;
  /** Due time and the client-side wait before sending (slot, busy sessions, sender lag), ms. */
  readonly dueAtMs: number;
  readonly queueMs: number;
  readonly contentEvents: number;
  readonly status: number;
  readonly error: string | null;
  readonly text: string | null;
}

export interface RunResult {
  readonly spec: ResolvedRunSpec;
  /** Wall-clock start of the measured phase, ISO 8601. */
  readonly startedAt: string;
  readonly summary: BenchSummary;
  /** Every request, warm-ups first, in sending order. */
  readonly records: readonly RequestRecord[];
}

/** Fills defaults and validates every option before any I/O; the result is frozen. */
export function resolveRunSpec(spec: RunSpec): ResolvedRunSpec {
  let url: URL;
  try {
    url = new URL(spec.baseUrl);
  } catch {
    throw new RangeError(`baseUrl must be a URL such as http://127.0.0.1:8000, got ${spec.baseUrl}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`baseUrl must be http or https, got ${spec.baseUrl}`);
  if (url.pathname !== '/' || url.search) throw new RangeError(`baseUrl must be an origin without a path (the routes are /v1/...), got ${spec.baseUrl}`);
  if (typeof spec.model !== 'string' || spec.model === '') throw new RangeError('model must be a non-empty string');
  const seed = spec.seed ?? RUN_DEFAULTS.seed;
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const durationS = spec.durationS ?? null;
  const numPrompts = spec.numPrompts ?? (durationS === null ? RUN_DEFAULTS.numPrompts : null);
  if (numPrompts !== null && !(Number.isInteger(numPrompts) && numPrompts >= 1)) throw new RangeError(`numPrompts must be an integer ≥ 1, got ${numPrompts}`);
  if (durationS !== null && !(durationS > 0 && Number.isFinite(durationS))) throw new RangeError(`durationS must be a finite number > 0, got ${durationS}`);
  const numWarmups = spec.numWarmups ?? RUN_DEFAULTS.numWarmups;
  if (!(Number.isInteger(numWarmups) && numWarmups >= 0)) throw new RangeError(`numWarmups must be an integer ≥ 0, got ${numWarmups}`);
  const warmupS = spec.warmupS ?? RUN_DEFAULTS.warmupS;
  if (!(warmupS >= 0 && Number.isFinite(warmupS))) throw new RangeError(`warmupS must be a finite number ≥ 0, got ${warmupS}`);
  const requestTimeoutS = spec.requestTimeoutS ?? RUN_DEFAULTS.requestTimeoutS;
  if (!(requestTimeoutS > 0 && Number.isFinite(requestTimeoutS))) throw new RangeError(`requestTimeoutS must be a finite number > 0, got ${requestTimeoutS}`);
  const load = validateLoad({
    requestRate: spec.requestRate ?? RUN_DEFAULTS.requestRate,
    burstiness: spec.burstiness ?? RUN_DEFAULTS.burstiness,
    maxConcurrency: spec.maxConcurrency ?? RUN_DEFAULTS.maxConcurrency,
  });
  return Object.freeze({
    baseUrl: url.origin,
    model: spec.model,
    workload: resolveWorkload(spec.workload),
    seed,
    ...load,
    numPrompts,
    durationS,
    numWarmups,
    warmupS,
    requestTimeoutS,
    requestIdPrefix: spec.requestIdPrefix === undefined ? RUN_DEFAULTS.requestIdPrefix : spec.requestIdPrefix,
    keepText: spec.keepText ?? RUN_DEFAULTS.keepText,
  });
}

interface Phase {
  readonly warmup: boolean;
  /** Measured requests to send (warm-up ones of `rampMs` not counted). */
  readonly limit: number | null;
  /** Length of the measured window, after `rampMs`. */
  readonly durationMs: number | null;
  /** Unmeasured arrivals at the start of the phase, ms. */
  readonly rampMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs the benchmark and returns every request's record and the summary. */
export async function runLoad(input: RunSpec): Promise<RunResult> {
  const spec = resolveRunSpec(input);
  const source: RequestSource = createSource(spec.workload, { model: spec.model, seed: spec.seed });
  const agent = createAgent(spec.maxConcurrency);
  const records: RequestRecord[] = [];
  let index = 0;
  let inflight = 0;

  // Everything that can unblock the sender (an answer, the deadline, an abort) calls notify().
  let waiters: (() => void)[] = [];
  const notify = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const changed = (): Promise<void> => new Promise((r) => waiters.push(r));
  input.signal?.addEventListener('abort', notify, { once: true });

  const runPhase = async (phase: Phase): Promise<{ t0: number; end: number; maxInflight: number }> => {
    const start = performance.now();
    // Measured times count from the end of the ramp.
    const t0 = start + phase.rampMs;
    let end = t0;
    let maxInflight = 0;
    const pending: Promise<void>[] = [];
    const arrivals = arrivalTimes(spec, substream(spec.seed, phase.warmup ? 'arrivals-warmup' : 'arrivals'));
    const stopAt = phase.durationMs === null ? null : phase.rampMs + phase.durationMs;
    const deadline = stopAt === null ? null : setTimeout(notify, stopAt);
    const stopped = (): boolean => input.signal?.aborted === true || (stopAt !== null && performance.now() - start >= stopAt);

    const fire = (item: WorkItem, due: number): void => {
      const warm = phase.warmup || due < t0;
      inflight++;
      maxInflight = Math.max(maxInflight, inflight);
      const i = index++;
      const requestId = spec.requestIdPrefix === null ? undefined : `${spec.requestIdPrefix}${i}`;
      const sending = sendRequest(agent, spec.baseUrl, item, { timeoutMs: spec.requestTimeoutS * 1000, keepText: spec.keepText, ...(requestId ? { requestId } : {}) });
      pending.push(
        sending.then((r) => {
          source.complete(item, r.ok ? (r.text ?? '') : null);
          records.push(record(i, warm, item, r, due, warm ? start : t0, spec.keepText));
          inflight--;
          if (!warm) end = Math.max(end, r.sentAt + r.e2eMs);
          notify();
        }),
      );
    };

    try {
      let measured = 0;
      send: while (phase.limit === null || measured < phase.limit) {
        const due = start + arrivals.next().value;
        if (stopAt !== null && due - start >= stopAt) break;
        if (due >= t0) measured++;
        const wait = due - performance.now();
        if (wait >= 1) await sleep(wait);
        let item: WorkItem | null = null;
        for (;;) {
          if (stopped()) break send;
          const slot = spec.maxConcurrency === null || inflight < spec.maxConcurrency;
          if (slot) item = source.next();
          if (item !== null) break;
          if (slot && inflight === 0) throw new Error(`workload ${spec.workload.kind} has nothing to send and nothing in flight`);
          await changed();
        }
        fire(item, due);
      }
      await Promise.all(pending);
    } finally {
      if (deadline) clearTimeout(deadline);
    }
    return { t0, end, maxInflight };
  };

  try {
    if (spec.numWarmups > 0) await runPhase({ warmup: true, limit: spec.numWarmups, durationMs: null, rampMs: 0 });
    const startedAt = new Date(Date.now() + spec.warmupS * 1000).toISOString();
    const measuredFrom = records.length;
    const m = await runPhase({ warmup: false, limit: spec.numPrompts, durationMs: spec.durationS === null ? null : spec.durationS * 1000, rampMs: spec.warmupS * 1000 });
    // Each record's times count from the start of its own phase (the ramp's from the ramp's start).
    const measured = records.slice(measuredFrom).filter((r) => !r.warmup);
    records.sort((a, b) => a.index - b.index);
    const summary = summarize(measured, (m.end - m.t0) / 1000, m.maxInflight);
    return { spec, startedAt, summary, records };
  } finally {
    input.signal?.removeEventListener('abort', notify);
    await agent.close().catch(() => undefined);
  }
}

function record(index: number, warmup: boolean, item: WorkItem, r: RequestResult, due: number, t0: number, keepText: boolean): RequestRecord {
  return {
    index,
    warmup,
    route: item.route,
    sessionId: item.sessionId ?? null,
    turn: item.turn ?? null,
    expectedInputTokens: item.inputTokens,
    expectedOutputTokens: item.outputTokens,
    dueAtMs: due - t0,
    queueMs: r.sentAt - due,
    sentAtMs: r.sentAt - t0,
    ok: r.ok,
    status: r.status,
    error: r.error,
    ttftMs: r.ttftMs,
    itlMs: r.itlMs,
    tpotMs: r.tpotMs,
    e2eMs: r.e2eMs,
    contentEvents: r.contentEvents,
    promptTokens: r.promptTokens,
    outputTokens: r.outputTokens,
    cachedTokens: r.cachedTokens,
    text: keepText ? r.text : null,
  };
}
