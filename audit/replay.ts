// Replay of recorded traffic: the request records of a window (bodies kept with
// --audit-bodies full), sent again to any OpenAI endpoint at their original inter-arrival times
// (scaled by `speed`), each marked `x-llm-replay-of: <audit id>` so that the replays are told
// apart in the audit stream and the metrics; then a report that sets each answer beside the
// recorded one. Planning and the report are pure; sending is `replayTo`.
import { request as httpRequest } from 'undici';
import { REPLAY_OF_HEADER, type AuditRecord, type EndRecord, type FirstTokenRecord, type RequestRecord } from '../proto/audit.ts';

export interface ReplayFilter {
  readonly model?: string;
  /** The recorded end status. */
  readonly status?: number;
  /** The API key's name. */
  readonly key?: string;
}

/** A recorded request to send again, with what was recorded of its answer. */
export interface ReplayItem {
  readonly id: string;
  readonly route: string;
  readonly body: string;
  /** ms after the first replayed request. */
  readonly offsetMs: number;
  readonly recorded: Outcome | null;
}

export interface Outcome {
  readonly status: number;
  readonly ttftMs: number | null;
  readonly e2eMs: number;
  readonly promptTokens: number | null;
  readonly completionTokens: number | null;
}

export interface ReplayPlan {
  readonly items: ReplayItem[];
  /** Request records left out: body not kept (`none` or `hash`), or too large to keep. */
  readonly withoutBody: number;
  readonly filteredOut: number;
}

/** Groups the records by request and keeps the replayable ones that pass `filter`, in arrival order. */
export function planReplay(records: readonly AuditRecord[], filter: ReplayFilter, speed: number): ReplayPlan {
  const requests = new Map<string, RequestRecord>();
  const ends = new Map<string, EndRecord>();
  const firsts = new Map<string, FirstTokenRecord>();
  for (const r of records) {
    if (r.phase === 'request') requests.set(r.id, r);
    else if (r.phase === 'end') ends.set(r.id, r);
    else if (r.phase === 'first_token') firsts.set(r.id, r);
  }
  let withoutBody = 0;
  let filteredOut = 0;
  const kept: RequestRecord[] = [];
  for (const r of requests.values()) {
    const end = ends.get(r.id);
    if ((filter.model !== undefined && r.model !== filter.model) || (filter.key !== undefined && r.apiKey !== filter.key) || (filter.status !== undefined && end?.status !== filter.status)) {
      filteredOut++;
      continue;
    }
    if (r.body.text === undefined) {
      withoutBody++;
      continue;
    }
    kept.push(r);
  }
  kept.sort((a, b) => a.at - b.at);
  const t0 = kept[0]?.at ?? 0;
  const items = kept.map((r): ReplayItem => {
    const end = ends.get(r.id);
    const first = firsts.get(r.id);
    return {
      id: r.id,
      route: r.route,
      body: r.body.text!,
      offsetMs: (r.at - t0) / speed,
      recorded: end
        ? { status: end.status, ttftMs: first?.ttftMs ?? null, e2eMs: end.e2eMs, promptTokens: end.usage?.promptTokens ?? null, completionTokens: end.usage?.completionTokens ?? null }
        : null,
    };
  });
  return { items, withoutBody, filteredOut };
}

export interface Sent {
  readonly id: string;
  /** ms after the replay began that the request was sent, and when it was due. */
  readonly sentMs: number;
  readonly dueMs: number;
  readonly replay: Outcome | { readonly error: string };
  readonly recorded: Outcome | null;
}

/** Usage from a JSON answer, or the last SSE event that carries one. */
export function usageOf(text: string): { promptTokens: number | null; completionTokens: number | null } {
  const pick = (u: unknown): { promptTokens: number; completionTokens: number } | null => {
    const o = u as { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
    return o && typeof o.prompt_tokens === 'number' && typeof o.completion_tokens === 'number' ? { promptTokens: o.prompt_tokens, completionTokens: o.completion_tokens } : null;
  };
  try {
    const u = pick((JSON.parse(text) as { usage?: unknown }).usage);
    if (u) return u;
  } catch {
    // a stream
  }
  let found: { promptTokens: number; completionTokens: number } | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: {')) continue;
    try {
      found = pick((JSON.parse(line.slice(6)) as { usage?: unknown }).usage) ?? found;
    } catch {
      // not JSON: not ours to judge
    }
  }
  return found ?? { promptTokens: null, completionTokens: null };
}

export interface ReplayTarget {
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

async function sendOne(t: ReplayTarget, item: ReplayItem): Promise<Outcome | { error: string }> {
  const t0 = performance.now();
  try {
    const r = await httpRequest(new URL(item.route, t.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...t.headers, [REPLAY_OF_HEADER]: item.id },
      body: item.body,
      signal: AbortSignal.timeout(t.timeoutMs),
    });
    let ttftMs: number | null = null;
    let text = '';
    for await (const c of r.body) {
      ttftMs ??= performance.now() - t0;
      text += c;
    }
    return { status: r.statusCode, ttftMs, e2eMs: performance.now() - t0, ...usageOf(text) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/**
 * Sends every item at its offset (each due time counted from the start, so that lateness does not
 * add up); `onSent` hears each as it ends; `stop()` ends the replay early (Ctrl-C): what was
 * sent is still reported.
 */
export function replayTo(t: ReplayTarget, items: readonly ReplayItem[], onSent: (s: Sent) => void): { done: Promise<Sent[]>; stop(): void } {
  let stopped = false;
  const sent: Promise<Sent>[] = [];
  const done = (async () => {
    const t0 = performance.now();
    for (const item of items) {
      const wait = t0 + item.offsetMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (stopped) break;
      const sentMs = performance.now() - t0;
      sent.push(
        sendOne(t, item).then((replay) => {
          const s = { id: item.id, sentMs, dueMs: item.offsetMs, replay, recorded: item.recorded };
          onSent(s);
          return s;
        }),
      );
    }
    return Promise.all(sent);
  })();
  return {
    done,
    stop: () => {
      stopped = true;
    },
  };
}

const median = (xs: number[]): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};

export interface ReplaySummary {
  readonly sent: number;
  readonly statuses: Readonly<Record<string, number>>;
  /** Replays whose status differs from the recorded one. */
  readonly statusChanged: number;
  readonly ttftP50Ms: { readonly recorded: number; readonly replay: number };
  readonly e2eP50Ms: { readonly recorded: number; readonly replay: number };
  /** Median |actual − planned gap between consecutive sends| over the median planned gap. */
  readonly interArrivalError: number;
}

export function summarize(sent: readonly Sent[]): ReplaySummary {
  const statuses: Record<string, number> = {};
  let statusChanged = 0;
  for (const s of sent) {
    const k = 'error' in s.replay ? 'error' : String(s.replay.status);
    statuses[k] = (statuses[k] ?? 0) + 1;
    if (s.recorded && ('error' in s.replay || s.replay.status !== s.recorded.status)) statusChanged++;
  }
  const ok = sent.filter((s): s is Sent & { replay: Outcome } => !('error' in s.replay));
  const bySend = [...sent].sort((a, b) => a.dueMs - b.dueMs);
  const gaps: number[] = [];
  const errs: number[] = [];
  for (let i = 1; i < bySend.length; i++) {
    const planned = bySend[i]!.dueMs - bySend[i - 1]!.dueMs;
    gaps.push(planned);
    errs.push(Math.abs(bySend[i]!.sentMs - bySend[i - 1]!.sentMs - planned));
  }
  const gap = median(gaps);
  return {
    sent: sent.length,
    statuses,
    statusChanged,
    ttftP50Ms: {
      recorded: median(sent.flatMap((s) => (s.recorded?.ttftMs != null ? [s.recorded.ttftMs] : []))),
      replay: median(ok.flatMap((s) => (s.replay.ttftMs !== null ? [s.replay.ttftMs] : []))),
    },
    e2eP50Ms: { recorded: median(sent.flatMap((s) => (s.recorded ? [s.recorded.e2eMs] : []))), replay: median(ok.map((s) => s.replay.e2eMs)) },
    interArrivalError: gap > 0 ? median(errs) / gap : 0,
  };
}
