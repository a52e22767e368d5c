// Asks one vLLM worker how it is: GET /health (200 = healthy; 503 = engine dead; no answer =
// down or still loading), GET /metrics for load, and GET /v1/models for the served names when
// the metrics do not say. The I/O half of the agent; parsing lives in vllm-metrics.ts.
//
// A probed address may not be a vLLM at all (discover-zmq probes what registers), so every body
// is read up to a limit and no further: past it the connection is closed and the answer counts
// as no answer, so a worker that streams without end costs a bounded buffer, not the agent.
import { request, type Dispatcher } from 'undici';
import { parseVllmMetrics, type WorkerLoad } from './vllm-metrics.ts';

export interface Probe {
  /** The worker answered /health with 2xx. */
  readonly healthy: boolean;
  /** The worker answered at all (a 503 is an answer: the process is up, the engine is not). */
  readonly reachable: boolean;
  /** /health got no answer in time, although nothing refused the connection: slow, not known dead. */
  readonly timedOut: boolean;
  readonly load: WorkerLoad | null;
  readonly models: readonly string[];
}

/** vLLM's /health is empty and /v1/models a few hundred bytes per model. */
export const SMALL_BODY_LIMIT = 64 * 1024;
/** vLLM's /metrics runs to hundreds of KiB with histograms per model and LoRA adapter. */
export const METRICS_BODY_LIMIT = 4 * 1024 * 1024;

type Answer = { status: number; text: string } | { status: null; timedOut: boolean; tooLarge: boolean };

const TIMEOUTS = new Set(['TimeoutError', 'AbortError', 'HeadersTimeoutError', 'BodyTimeoutError', 'ConnectTimeoutError']);

class BodyTooLarge extends Error {
  override name = 'BodyTooLarge';
}

async function get(dispatcher: Dispatcher, url: string, timeoutMs: number, limit: number): Promise<Answer> {
  try {
    const res = await request(url, { method: 'GET', dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      res.body.destroy();
      throw new BodyTooLarge();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      // Destroying the body aborts the request: undici closes the connection instead of reusing it.
      if (size > limit) {
        res.body.destroy();
        throw new BodyTooLarge();
      }
      chunks.push(chunk);
    }
    return { status: res.statusCode, text: Buffer.concat(chunks, size).toString('utf8') };
  } catch (e) {
    const name = (e as Error).name;
    return { status: null, timedOut: TIMEOUTS.has(name), tooLarge: name === 'BodyTooLarge' };
  }
}

export async function probeWorker(dispatcher: Dispatcher, base: string, timeoutMs: number, knownModels: readonly string[]): Promise<Probe> {
  const [health, metrics] = await Promise.all([get(dispatcher, `${base}/health`, timeoutMs, SMALL_BODY_LIMIT), get(dispatcher, `${base}/metrics`, timeoutMs, METRICS_BODY_LIMIT)]);
  const healthy = health.status !== null && health.status >= 200 && health.status < 300;
  const load = metrics.status === 200 ? parseVllmMetrics(metrics.text) : null;
  let models = load && load.models.length > 0 ? load.models : knownModels;
  if (healthy && models.length === 0) {
    const m = await get(dispatcher, `${base}/v1/models`, timeoutMs, SMALL_BODY_LIMIT);
    if (m.status === 200) {
      try {
        const data = (JSON.parse(m.text) as { data?: { id?: unknown }[] }).data ?? [];
        models = data.map((d) => d.id).filter((id): id is string => typeof id === 'string');
      } catch {
        // leave models empty: the worker is not advertised until it names them
      }
    }
  }
  // An answer cut off for its size came from a live process: reachable, not healthy.
  const reachable = health.status !== null || health.tooLarge;
  return { healthy, reachable, timedOut: health.status === null && health.timedOut, load, models };
}
