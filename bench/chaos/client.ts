// Steady load for the chaos run: `concurrency` clients each sending one request after another
// (streamed and not, chat and completions) to the ingresses in turn, each with a client-side
// timeout, and recording what became of every request.
import { request, Agent } from 'undici';
import { classify, type HangBounds, type Outcome } from './classify.ts';
import { mulberry32 } from '../lib/prng.ts';

export interface LoadOptions {
  readonly ingresses: readonly string[];
  readonly model: string;
  readonly concurrency: number;
  /** A request not complete by then is abandoned (and counts as hung). */
  readonly timeoutMs: number;
  /** First-byte and silence bounds beyond which a request counts as hung even if it ended. */
  readonly hang: HangBounds;
  readonly seed: number;
}

export interface LoadReport {
  sent: number;
  outcomes: Record<Outcome, number>;
  /** A few examples of each bad outcome, for the report. */
  examples: Partial<Record<Outcome, string[]>>;
  /** Clear errors by kind (`HTTP 503 LLMR_ERR_NO_WORKER`, `stream LLMR_ERR_STREAM_BROKEN`, …). */
  clearErrors: Record<string, number>;
  /** Streams that failed after content reached the client: what no router can hide. */
  midStream: number;
  /** Every request that did not succeed, by kind (clear errors by code, hangs and losses by reason). */
  failures: Record<string, number>;
}

export function startLoad(o: LoadOptions): { report: LoadReport; stop(): Promise<LoadReport> } {
  const report: LoadReport = { sent: 0, outcomes: { ok: 0, clear_error: 0, hung: 0, lost: 0 }, examples: {}, clearErrors: {}, midStream: 0, failures: {} };
  const dispatcher = new Agent({ connections: o.concurrency * 2, keepAliveTimeout: 5000, headersTimeout: 0, bodyTimeout: 0 });
  let running = true;
  const loop = async (c: number): Promise<void> => {
    const rnd = mulberry32(o.seed * 1000 + c);
    for (let i = 0; running; i++) {
      const stream = rnd() < 0.6;
      const chat = rnd() < 0.5;
      const maxTokens = 8 + Math.floor(rnd() * 40);
      const url = o.ingresses[(c + i) % o.ingresses.length]!;
      const body = chat
        ? { model: o.model, messages: [{ role: 'user', content: `client ${c} request ${i}` }], max_tokens: maxTokens, ignore_eos: true, stream }
        : { model: o.model, prompt: `client ${c} request ${i}`, max_tokens: maxTokens, ignore_eos: true, stream };
      report.sent++;
      const ac = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ac.abort();
      }, o.timeoutMs);
      let status: number | null = null;
      let text = '';
      let transportError: string | null = null;
      const sentAt = performance.now();
      let firstByteMs: number | null = null;
      let lastAt = 0;
      let maxGapMs = 0;
      const sawBytes = (): void => {
        const now = performance.now();
        if (firstByteMs === null) firstByteMs = now - sentAt;
        else maxGapMs = Math.max(maxGapMs, now - lastAt);
        lastAt = now;
      };
      try {
        const res = await request(`${url}${chat ? '/v1/chat/completions' : '/v1/completions'}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          dispatcher,
          signal: ac.signal,
        });
        status = res.statusCode;
        try {
          for await (const chunk of res.body) {
            sawBytes();
            text += (chunk as Buffer).toString();
          }
          if (firstByteMs === null) sawBytes(); // an empty body: its end is its first byte
        } catch (e) {
          transportError = (e as Error).message;
        }
      } catch (e) {
        transportError = (e as Error).message;
      } finally {
        clearTimeout(timer);
      }
      const { outcome, why, midStream } = classify({ status, stream, body: text, transportError, timedOut, firstByteMs, maxGapMs }, o.hang);
      report.outcomes[outcome]++;
      if (outcome !== 'ok') {
        const kind = outcome === 'clear_error' ? why : `${outcome}: ${why.replace(/\d+ ms/, 'N ms')}`;
        report.failures[kind] = (report.failures[kind] ?? 0) + 1;
      }
      if (midStream) report.midStream++;
      if (outcome === 'clear_error') report.clearErrors[why] = (report.clearErrors[why] ?? 0) + 1;
      else if (outcome !== 'ok') {
        report.examples[outcome] ??= [];
        const list = report.examples[outcome];
        if (list.length < 5) list.push(why);
      }
      // A failed request is retried by a real client after a moment; keep the pressure steady.
      if (outcome !== 'ok') await new Promise((r) => setTimeout(r, 50));
    }
  };
  const loops = Array.from({ length: o.concurrency }, (_, c) => loop(c));
  return {
    report,
    async stop() {
      running = false;
      await Promise.all(loops);
      await dispatcher.close();
      return report;
    },
  };
}
