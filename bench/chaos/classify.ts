// What became of one request, as the client saw it. The chaos run's promise is that every
// request either succeeds or fails with a clear error: `hung` (no first byte, or a silence, longer
// than a bound well below the router's own timeouts — a request the router ended with a 504
// after waiting out its timeout was still stuck) and `lost` (a connection cut without an error, a
// stream that stops without saying why, a body that does not parse) must never happen. Pure.

export type Outcome = 'ok' | 'clear_error' | 'hung' | 'lost';

export interface Seen {
  /** HTTP status, or null when no response arrived. */
  readonly status: number | null;
  readonly stream: boolean;
  readonly body: string;
  /** The fetch failed (connection refused or cut); null when the body was read to its end. */
  readonly transportError: string | null;
  /** The client gave up waiting. */
  readonly timedOut: boolean;
  /** From sending to the first body bytes (or the end of an empty body); null when none came. */
  readonly firstByteMs?: number | null;
  /** The longest silence between two body chunks. */
  readonly maxGapMs?: number;
}

export interface HangBounds {
  /** A first byte later than this is a hang, whatever followed. */
  readonly firstByteMs: number;
  /** A silence longer than this inside a body is a hang. */
  readonly silenceMs: number;
}

function isErrorBody(text: string): boolean {
  try {
    const o = JSON.parse(text) as { error?: { message?: unknown } };
    return typeof o.error?.message === 'string' && o.error.message.length > 0;
  } catch {
    return false;
  }
}

function errorCode(text: string): string {
  try {
    const o = JSON.parse(text) as { error?: { code?: unknown; type?: unknown } };
    return String(o.error?.code ?? o.error?.type ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

/**
 * `why` names the error code for clear errors (`HTTP 502 LLMR_ERR_…`, `stream LLMR_ERR_…`);
 * `midStream` is set for a stream that failed after content reached the client (a worker, a
 * scheduler or the bus dying mid-answer: no router can take back bytes it has sent).
 */
export function classify(s: Seen, bounds?: HangBounds): { outcome: Outcome; why: string; midStream?: boolean } {
  if (s.timedOut) return { outcome: 'hung', why: 'no complete answer before the client timeout' };
  if (bounds && s.firstByteMs != null && s.firstByteMs > bounds.firstByteMs) return { outcome: 'hung', why: `first byte after ${Math.round(s.firstByteMs)} ms` };
  if (bounds && s.firstByteMs === null && s.status !== null) return { outcome: 'hung', why: 'no body byte at all' };
  if (bounds && (s.maxGapMs ?? 0) > bounds.silenceMs) return { outcome: 'hung', why: `silent for ${Math.round(s.maxGapMs!)} ms mid-answer` };
  if (s.status === null) return { outcome: 'lost', why: `no response: ${s.transportError ?? 'unknown'}` };
  if (s.status >= 400) {
    if (s.transportError) return { outcome: 'lost', why: `error status ${s.status} with its body cut: ${s.transportError}` };
    return isErrorBody(s.body) ? { outcome: 'clear_error', why: `HTTP ${s.status} ${errorCode(s.body)}` } : { outcome: 'lost', why: `HTTP ${s.status} without an error body` };
  }
  if (!s.stream) {
    if (s.transportError) return { outcome: 'lost', why: `JSON body cut: ${s.transportError}` };
    try {
      const o = JSON.parse(s.body) as { choices?: unknown[] };
      return Array.isArray(o.choices) && o.choices.length > 0 ? { outcome: 'ok', why: '' } : { outcome: 'lost', why: 'JSON without choices' };
    } catch {
      return { outcome: 'lost', why: 'JSON body does not parse' };
    }
  }
  const events = s.body
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
  const errAt = events.findIndex((e) => e.startsWith('{"error"'));
  if (errAt >= 0) return { outcome: 'clear_error', why: `stream ${errorCode(events[errAt]!)}`, midStream: errAt > 0 };
  if (s.transportError) return { outcome: 'lost', why: `stream cut without an error event: ${s.transportError}` };
  if (events.at(-1) !== '[DONE]') return { outcome: 'lost', why: 'stream ended without [DONE] or an error event' };
  return events.length > 1 ? { outcome: 'ok', why: '' } : { outcome: 'lost', why: 'stream with no content' };
}
