// One point of the overload benchmark: open-loop Poisson arrivals at a rate for a while, every
// request followed to its end (an answer, a refusal or the client's timeout), and what came of
// them. summarizePoint is pure.
import type { Dispatcher } from 'undici';
import { substream } from '../lib/prng.ts';
import { quantileSorted } from '../lib/stats.ts';
import { arrivalTimes } from '../loadgen/arrivals.ts';
import { sendRequest, type RequestResult } from '../loadgen/client.ts';
import type { RequestSource } from '../loadgen/workloads.ts';

export interface PointSummary {
  readonly sent: number;
  /** 200 and whole. */
  readonly ok: number;
  /** Whole answers whose first token came within the SLO, per second of the window. */
  readonly goodput: number;
  /** Whole answers per second of the window, whatever their TTFT (those that came after the window, while it drained, included). */
  readonly throughput: number;
  /** Refused by the system: 429 and 503 (told to come back). */
  readonly shed: number;
  /** Anything else: timeouts, broken streams, other statuses. */
  readonly failed: number;
  /** Of the whole answers. */
  readonly ttftP50Ms: number;
  readonly ttftP99Ms: number;
  /** Of the refusals: how long a client waited to be told (the ingress's queue, or none). */
  readonly shedP99Ms: number;
  /** Statuses seen, with counts. */
  readonly statuses: Readonly<Record<string, number>>;
}

export function summarizePoint(results: readonly RequestResult[], seconds: number, sloMs: number): PointSummary {
  const ok = results.filter((r) => r.ok);
  const shed = results.filter((r) => !r.ok && (r.status === 429 || r.status === 503));
  const ttft = Float64Array.from(ok.map((r) => r.ttftMs)).sort();
  const shedMs = Float64Array.from(shed.map((r) => r.e2eMs)).sort();
  const statuses: Record<string, number> = {};
  for (const r of results) {
    // A stream cut short (the client's timeout mid-answer included) is not a 200 answered.
    const k = r.ok ? '200' : r.error?.startsWith('timeout') ? 'timeout' : r.status === 0 ? 'error' : r.status === 200 ? 'incomplete' : String(r.status);
    statuses[k] = (statuses[k] ?? 0) + 1;
  }
  return {
    sent: results.length,
    ok: ok.length,
    goodput: ok.filter((r) => r.ttftMs <= sloMs).length / seconds,
    throughput: ok.length / seconds,
    shed: shed.length,
    failed: results.length - ok.length - shed.length,
    ttftP50Ms: quantileSorted(ttft, 0.5),
    ttftP99Ms: quantileSorted(ttft, 0.99),
    shedP99Ms: quantileSorted(shedMs, 0.99),
    statuses,
  };
}

export interface PointRun {
  readonly url: string;
  readonly rate: number;
  readonly seconds: number;
  readonly seed: number;
  readonly timeoutMs: number;
  readonly source: RequestSource;
  readonly dispatcher: Dispatcher;
}

/** Sends for `seconds`, then waits for every request to end; the results in order of sending. */
export async function runPoint(p: PointRun): Promise<RequestResult[]> {
  const due = arrivalTimes({ requestRate: p.rate, burstiness: 1 }, substream(p.seed, `overload-${p.rate}`));
  const all: Promise<RequestResult>[] = [];
  const t0 = performance.now();
  for (;;) {
    const at = due.next().value;
    if (at >= p.seconds * 1000) break;
    const wait = t0 + at - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const item = p.source.next();
    if (!item) continue;
    all.push(sendRequest(p.dispatcher, p.url, item, { timeoutMs: p.timeoutMs }));
  }
  return Promise.all(all);
}
