// Reads LLM_AUDIT back: an ordered consumer of its own (no name, no acks, recreated by the
// client on a gap) from a start time, up to the batches that were there when it started
// (`follow` false) or on as new ones come. Every record is validated, and must be of a phase its
// batch's subject may carry; one that is not is reported, never trusted.
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { AUDIT_STREAM, decodeAuditBatch, type AuditRecord } from '../proto/audit.ts';

export interface ReadOptions {
  /** Epoch ms of the first record wanted. */
  readonly since: number;
  /** Epoch ms past which reading stops (records are in the order they were stored). */
  readonly until?: number;
  /** Keep reading new records once caught up (`audit tail`). */
  readonly follow: boolean;
  /** Only this subject's batches (audit.v1.<region>.<source>, wildcards allowed); one filter, as nats-server 2.9 takes. */
  readonly subject?: string;
}

export type ReadItem = { readonly ok: true; readonly record: AuditRecord; readonly seq: number } | { readonly ok: false; readonly reason: string; readonly seq: number };

export async function* readAudit(nc: NatsConnection, o: ReadOptions): AsyncGenerator<ReadItem> {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(AUDIT_STREAM, {
    deliver_policy: 'by_start_time',
    opt_start_time: new Date(o.since).toISOString(),
    filter_subjects: o.subject ?? 'audit.v1.>',
  });
  // An empty stream (or window) has nothing to deliver: say so instead of waiting for a first message.
  if (!o.follow && (await consumer.info(true)).num_pending === 0) return;
  const messages = await consumer.consume();
  try {
    for await (const m of messages) {
      const stored = Number(m.timestampNanos / 1_000_000n);
      if (o.until !== undefined && stored > o.until) return;
      // The subject's last token is the batch's source: the bus vouches for it, the payload does not.
      for (const d of decodeAuditBatch(m.data, m.subject.slice(m.subject.lastIndexOf('.') + 1))) yield d.ok ? { ok: true, record: d.value, seq: m.seq } : { ok: false, reason: d.reason, seq: m.seq };
      if (!o.follow && m.info.pending === 0) return;
    }
  } finally {
    await messages.close().catch(() => undefined);
  }
}
