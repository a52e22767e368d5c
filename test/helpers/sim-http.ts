// Raw-HTTP helpers for tests against simulated workers: JSON posts, SSE bodies read byte for byte,
// and a small Prometheus text parser for /metrics.

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

/** A vLLM error body: `{error: {message, type, param, code}}`. */
export interface VllmErrorBody {
  error: { message: string; type: string; param: string | null; code: number };
}

export interface SseBody {
  /** Everything the server sent, as text. */
  readonly raw: string;
  /** The `data:` payloads in order, `[DONE]` included. */
  readonly payloads: string[];
  /** Whether the stream ended with `data: [DONE]`. */
  readonly done: boolean;
  /** Set when the connection failed before the body ended (a cut stream). */
  readonly error: unknown;
}

/** Reads a whole SSE response body, keeping whatever arrived if the connection is cut. */
export async function readSse(res: Response): Promise<SseBody> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let raw = '';
  let error: unknown = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      raw += decoder.decode(value, { stream: true });
    }
  } catch (e) {
    error = e;
  }
  raw += decoder.decode();
  const payloads = sseEvents(raw).map((e) => e.slice('data: '.length));
  return { raw, payloads, done: payloads.at(-1) === '[DONE]', error };
}

/** Splits an SSE body into its complete events (text before each blank line). */
export function sseEvents(raw: string): string[] {
  const parts = raw.split('\n\n');
  parts.pop(); // an incomplete tail (or the empty string after the last separator)
  return parts;
}

/** The JSON chunks of an SSE body, `[DONE]` left out. */
export function sseJson<T = Record<string, unknown>>(body: SseBody): T[] {
  return body.payloads.filter((p) => p !== '[DONE]').map((p) => JSON.parse(p) as T);
}

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export async function scrape(baseUrl: string): Promise<string> {
  const r = await fetch(`${baseUrl}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return r.text();
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample line of a Prometheus text exposition. */
export function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The `# TYPE` of a metric family, or undefined. */
export function metricType(text: string, family: string): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`# TYPE ${family} `));
  return line?.slice(`# TYPE ${family} `.length).trim();
}

/** Samples named `name` whose labels include `labels`. */
export function find(text: string, name: string, labels: Record<string, string> = {}): Sample[] {
  return samples(text).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The value of the one sample named `name` with `labels`; throws when there is not exactly one. */
export function value(text: string, name: string, labels: Record<string, string> = {}): number {
  const found = find(text, name, labels);
  if (found.length !== 1) throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]!.value;
}

/** The sum of the samples named `name` whose labels include `labels` (0 when there are none). */
export function total(text: string, name: string, labels: Record<string, string> = {}): number {
  return find(text, name, labels).reduce((a, x) => a + x.value, 0);
}

/** Error code of a failed fetch (ECONNREFUSED, ...), walking `cause`. */
export function errorCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 5 && cur; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}
