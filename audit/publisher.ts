// Publishes audit records into LLM_AUDIT without ever holding up a request: a record is handed
// over and the caller goes on; at most `window` publishes wait for their acknowledgement at once.
//   best_effort  a record that finds the window full, or whose publish fails (JetStream slow or
//                down), is dropped and counted;
//   required     nothing accepted is dropped: a failed publish is retried (with backoff) until
//                JetStream takes it, and while any is failing `accepting` is false, so that the
//                ingress refuses new requests (503 LLMR_ERR_AUDIT_UNAVAILABLE) rather than serve
//                requests it cannot record.
// Every record carries Nats-Msg-Id `<id>:<phase>`: a retry of a record that was stored after all
// (its acknowledgement lost) is dropped by the stream's duplicate window, not stored twice.
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { auditMsgId, encodeAuditRecord, type AuditRecord } from '../proto/audit.ts';
import { subjects } from '../proto/subjects.ts';

export const AUDIT_MODES = ['off', 'best_effort', 'required'] as const;
export type AuditMode = (typeof AUDIT_MODES)[number];

export interface AuditPublisherOptions {
  readonly mode: Exclude<AuditMode, 'off'>;
  readonly region: string;
  /** Publishes awaiting their acknowledgement at most. */
  readonly window: number;
  /** A publish not acknowledged within this failed. */
  readonly ackTimeoutMs: number;
  /** Seconds from handing a record over to its acknowledgement (a histogram's observe). */
  readonly onLag?: (seconds: number) => void;
}

export interface AuditStats {
  published: number;
  dropped: number;
  /** Publishes that failed (then dropped, or retried in required mode). */
  failures: number;
  /** Waiting for an acknowledgement or for a retry. */
  pending: number;
}

/** What the processes see of auditing: hand a record over; know whether new requests may come. */
export interface AuditSink {
  readonly accepting: boolean;
  record(r: AuditRecord): void;
}

export const NO_AUDIT: AuditSink = Object.freeze({ accepting: true, record() {} });

interface Item {
  readonly r: AuditRecord;
  readonly data: Uint8Array;
  readonly since: number;
  tries: number;
}

export class AuditPublisher implements AuditSink {
  readonly #o: AuditPublisherOptions;
  readonly #js: JetStreamClient;
  readonly #log: Logger;
  readonly #backlog: Item[] = [];
  /** Items whose publish failed and wait for their retry (required mode). */
  readonly #failing = new Set<Item>();
  #inFlight = 0;
  readonly stats: AuditStats = { published: 0, dropped: 0, failures: 0, pending: 0 };
  #idle: (() => void) | null = null;

  constructor(nc: NatsConnection, o: AuditPublisherOptions, log: Logger) {
    this.#o = o;
    this.#js = jetstream(nc);
    this.#log = log;
  }

  get accepting(): boolean {
    return this.#o.mode !== 'required' || this.#failing.size === 0;
  }

  record(r: AuditRecord): void {
    const item: Item = { r, data: encodeAuditRecord(r), since: performance.now(), tries: 0 };
    if (this.#inFlight >= this.#o.window) {
      if (this.#o.mode === 'best_effort') {
        this.stats.dropped++;
        return;
      }
      this.#backlog.push(item);
      this.stats.pending++;
      return;
    }
    this.stats.pending++;
    this.#send(item);
  }

  /** Resolves when nothing waits any more, or after `timeoutMs` (a stop). */
  async drain(timeoutMs: number): Promise<void> {
    if (this.stats.pending === 0) return;
    await Promise.race([new Promise<void>((r) => (this.#idle = r)), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  #send(item: Item): void {
    this.#inFlight++;
    item.tries++;
    const subject = subjects.audit(this.#o.region, item.r.phase);
    this.#js.publish(subject, item.data, { msgID: auditMsgId(item.r), timeout: this.#o.ackTimeoutMs }).then(
      () => this.#done(item, true),
      (e: unknown) => {
        this.stats.failures++;
        if (this.stats.failures === 1 || this.stats.failures % 1000 === 0) this.#log.warn({ err: (e as Error).message, failures: this.stats.failures, mode: this.#o.mode }, 'audit record not stored');
        this.#done(item, false);
      },
    );
  }

  #done(item: Item, ok: boolean): void {
    this.#inFlight--;
    if (ok) {
      this.stats.published++;
      this.stats.pending--;
      this.#o.onLag?.((performance.now() - item.since) / 1000);
      if (this.#failing.delete(item) && this.#failing.size === 0) this.#log.info('audit records are stored again');
    } else if (this.#o.mode === 'best_effort') {
      this.stats.dropped++;
      this.stats.pending--;
    } else {
      this.#failing.add(item);
      // Back off to a publish every 2 s at most while JetStream is away.
      const wait = Math.min(2000, 50 * 2 ** Math.min(item.tries, 6));
      setTimeout(() => this.#send(item), wait).unref();
    }
    while (this.#inFlight < this.#o.window && this.#backlog.length > 0) this.#send(this.#backlog.shift()!);
    if (this.stats.pending === 0) this.#idle?.();
  }
}
