// Publishes audit records into LLM_AUDIT without ever holding up a request: a record is handed
// over and the caller goes on. Records are gathered into batches — what the process wrote in
// the last `lingerMs`, up to `maxBatchRecords` — and each batch is one JetStream message and one
// acknowledgement: four records a request, one publish each, cost the router 44 % more CPU per
// request (bench/results/floor-audit.md); batched, a few publishes a second carry them all.
//   best_effort  a batch that finds `window` batches already awaiting their acknowledgement, or
//                whose publish fails (JetStream slow or down), is dropped and its records counted;
//   required     nothing accepted is dropped: a failed batch is retried (with backoff) until
//                JetStream takes it, and while any is failing `accepting` is false, so that the
//                ingress refuses new requests (503 LLMR_ERR_AUDIT_UNAVAILABLE) rather than serve
//                requests it cannot record.
// A batch keeps its Nats-Msg-Id (a ULID) through its retries: one whose acknowledgement was lost
// after it was stored is dropped by the stream's duplicate window, not stored twice.
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { encodeAuditBatch, type AuditRecord, type AuditSource } from '../proto/audit.ts';
import { subjects } from '../proto/subjects.ts';
import { newId } from '../runtime/ids.ts';

export const AUDIT_MODES = ['off', 'best_effort', 'required'] as const;
export type AuditMode = (typeof AUDIT_MODES)[number];

export interface AuditPublisherOptions {
  readonly mode: Exclude<AuditMode, 'off'>;
  readonly region: string;
  /** What this process writes (the subject's last token; the bus lets it publish only its own). */
  readonly source: AuditSource;
  /** Batches awaiting their acknowledgement at most. */
  readonly window: number;
  /** A publish not acknowledged within this failed. */
  readonly ackTimeoutMs: number;
  /** How long a batch gathers records before it leaves. */
  readonly lingerMs: number;
  readonly maxBatchRecords: number;
  /** Seconds from handing a record over to its acknowledgement (a histogram's observe). */
  readonly onLag?: (seconds: number) => void;
}

export const AUDIT_PUBLISHER_DEFAULTS = Object.freeze({ window: 64, ackTimeoutMs: 5000, lingerMs: 10, maxBatchRecords: 256 });

export interface AuditStats {
  /** Records stored (their batch acknowledged). */
  published: number;
  dropped: number;
  /** Batch publishes that failed (then dropped, or retried in required mode). */
  failures: number;
  /** Records gathering, waiting for an acknowledgement or for a retry. */
  pending: number;
}

/** What the processes see of auditing: hand a record over; know whether new requests may come. */
export interface AuditSink {
  readonly accepting: boolean;
  record(r: AuditRecord): void;
}

export const NO_AUDIT: AuditSink = Object.freeze({ accepting: true, record() {} });

interface Batch {
  readonly id: string;
  readonly data: Uint8Array;
  readonly count: number;
  /** performance.now() of its oldest record. */
  readonly since: number;
  tries: number;
}

export class AuditPublisher implements AuditSink {
  readonly #o: AuditPublisherOptions;
  readonly #js: JetStreamClient;
  readonly #log: Logger;
  readonly #subject: string;
  #gathering: AuditRecord[] = [];
  #gatheringSince = 0;
  #timer: NodeJS.Timeout | null = null;
  /** Batches of required mode that wait for a free place in the window. */
  readonly #backlog: Batch[] = [];
  /** Batches whose publish failed and wait for their retry (required mode). */
  readonly #failing = new Set<Batch>();
  #inFlight = 0;
  readonly stats: AuditStats = { published: 0, dropped: 0, failures: 0, pending: 0 };
  #idle: (() => void) | null = null;

  constructor(nc: NatsConnection, o: AuditPublisherOptions, log: Logger) {
    this.#o = o;
    this.#js = jetstream(nc);
    this.#log = log;
    this.#subject = subjects.audit(o.region, o.source);
  }

  get accepting(): boolean {
    return this.#o.mode !== 'required' || this.#failing.size === 0;
  }

  record(r: AuditRecord): void {
    if (this.#gathering.length === 0) this.#gatheringSince = performance.now();
    this.#gathering.push(r);
    this.stats.pending++;
    if (this.#gathering.length >= this.#o.maxBatchRecords) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.#o.lingerMs);
  }

  /** Sends what is gathering, then resolves when nothing waits any more, or after `timeoutMs` (a stop). */
  async drain(timeoutMs: number): Promise<void> {
    this.#flush();
    if (this.stats.pending === 0) return;
    await Promise.race([new Promise<void>((r) => (this.#idle = r)), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#gathering.length === 0) return;
    const id = newId();
    const batch: Batch = { id, data: encodeAuditBatch(id, this.#gathering), count: this.#gathering.length, since: this.#gatheringSince, tries: 0 };
    this.#gathering = [];
    if (this.#inFlight < this.#o.window) this.#send(batch);
    else if (this.#o.mode === 'best_effort') this.#drop(batch);
    else this.#backlog.push(batch);
  }

  #send(b: Batch): void {
    this.#inFlight++;
    b.tries++;
    this.#js.publish(this.#subject, b.data, { msgID: b.id, timeout: this.#o.ackTimeoutMs }).then(
      () => this.#done(b, true),
      (e: unknown) => {
        this.stats.failures++;
        if (this.stats.failures === 1 || this.stats.failures % 100 === 0) this.#log.warn({ err: (e as Error).message, failures: this.stats.failures, mode: this.#o.mode }, 'audit records not stored');
        this.#done(b, false);
      },
    );
  }

  #drop(b: Batch): void {
    this.stats.dropped += b.count;
    this.stats.pending -= b.count;
  }

  #done(b: Batch, ok: boolean): void {
    this.#inFlight--;
    if (ok) {
      this.stats.published += b.count;
      this.stats.pending -= b.count;
      this.#o.onLag?.((performance.now() - b.since) / 1000);
      if (this.#failing.delete(b) && this.#failing.size === 0) this.#log.info('audit records are stored again');
    } else if (this.#o.mode === 'best_effort') {
      this.#drop(b);
    } else {
      this.#failing.add(b);
      // Back off to a publish every 2 s at most while JetStream is away.
      setTimeout(() => this.#send(b), Math.min(2000, 50 * 2 ** Math.min(b.tries, 6))).unref();
    }
    while (this.#inFlight < this.#o.window && this.#backlog.length > 0) this.#send(this.#backlog.shift()!);
    if (this.stats.pending === 0) this.#idle?.();
  }
}
