// Asks one vLLM worker how it is: GET /health (200 = healthy; 503 = engine dead; no answer =
// down or still loading), GET /metrics for load, and GET /v1/models for the served names when
// the metrics do not say. The I/O half of the agent; parsing lives in vllm-metrics.ts.
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

type Answer = { status: number; text: string } | { status: null; timedOut: boolean };

const TIMEOUTS = new Set(['TimeoutError', 'AbortError', 'HeadersTimeoutError', 'BodyTimeoutError', 'ConnectTimeoutError']);

async function get(dispatcher: Dispatcher, url: string, timeoutMs: number): Promise<Answer> {
  try {
    const res = await request(url, { method: 'GET', dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.statusCode, text: await res.body.text() };
  } catch (e) {
    return { status: null, timedOut: TIMEOUTS.has((e as Error).name) };
  }
}

export async function probeWorker(dispatcher: Dispatcher, base: string, timeoutMs: number, knownModels: readonly string[]): Promise<Probe> {
  const [health, metrics] = await Promise.all([get(dispatcher, `${base}/health`, timeoutMs), get(dispatcher, `${base}/metrics`, timeoutMs)]);
  const healthy = health.status !== null && health.status >= 200 && health.status < 300;
  const load = metrics.status === 200 ? parseVllmMetrics(metrics.text) : null;
  let models = load && load.models.length > 0 ? load.models : knownModels;
  if (healthy && models.length === 0) {
    const m = await get(dispatcher, `${base}/v1/models`, timeoutMs);
    if (m.status === 200) {
      try {
        const data = (JSON.parse(m.text) as { data?: { id?: unknown }[] }).data ?? [];
        models = data.map((d) => d.id).filter((id): id is string => typeof id === 'string');
      } catch {
        // leave models empty: the worker is not advertised until it names them
      }
    }
  }
  return { healthy, reachable: health.status !== null, timedOut: health.status === null && health.timedOut, load, models };
}
