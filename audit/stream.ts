// The audit stream LLM_AUDIT: created at start by a process whose credential may (the schedulers
// on nats.conf), checked by everyone else. An existing stream is never silently replaced: its
// subjects and storage must be ours, and limits that differ from the ones asked for are updated
// with a log line saying so (an operator who changed --audit-max-age means it), never dropped.
import { jetstreamManager, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { AUDIT_STREAM } from '../proto/audit.ts';

export interface AuditStreamLimits {
  /** Records older than this are dropped (ms). */
  readonly maxAgeMs: number;
  /** The stream never holds more than this; the oldest records go first. */
  readonly maxBytes: number;
}

export const AUDIT_STREAM_DEFAULTS: AuditStreamLimits = Object.freeze({ maxAgeMs: 7 * 24 * 3_600_000, maxBytes: 1024 ** 3 });
/** Within this window a record published twice (a retry after a reconnect) is stored once. */
export const AUDIT_DUPLICATE_WINDOW_MS = 10 * 60_000;
export const AUDIT_SUBJECTS = ['audit.v1.>'];

function wanted(l: AuditStreamLimits): Partial<StreamConfig> & { name: string } {
  return {
    name: AUDIT_STREAM,
    subjects: AUDIT_SUBJECTS,
    storage: 'file' as StreamConfig['storage'],
    retention: 'limits' as StreamConfig['retention'],
    discard: 'old' as StreamConfig['discard'],
    max_age: l.maxAgeMs * 1_000_000,
    max_bytes: l.maxBytes,
    max_msg_size: 1024 * 1024,
    duplicate_window: AUDIT_DUPLICATE_WINDOW_MS * 1_000_000,
  };
}

/**
 * Makes sure LLM_AUDIT exists as asked. `create`: this process may create and update it (else
 * only its presence is checked). Throws with a sentence an operator can act on.
 */
export async function ensureAuditStream(nc: NatsConnection, limits: AuditStreamLimits, o: { readonly create: boolean; readonly log: Logger }): Promise<void> {
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (e) {
    throw new Error(`auditing needs JetStream on the bus: ${(e as Error).message}`);
  }
  const want = wanted(limits);
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(AUDIT_STREAM);
  } catch (e) {
    if (!/not found/i.test((e as Error).message)) throw new Error(`cannot read the audit stream ${AUDIT_STREAM}: ${(e as Error).message}`);
    if (!o.create) throw new Error(`the audit stream ${AUDIT_STREAM} does not exist yet (a scheduler creates it at start)`);
    await jsm.streams.add(want);
    o.log.info({ stream: AUDIT_STREAM, maxAgeMs: limits.maxAgeMs, maxBytes: limits.maxBytes }, 'audit stream created');
    return;
  }
  const c = info.config;
  if (c.subjects.join(',') !== AUDIT_SUBJECTS.join(',') || c.storage !== want.storage)
    throw new Error(`the stream ${AUDIT_STREAM} exists with subjects ${c.subjects.join(',')} and ${c.storage} storage; the router needs ${AUDIT_SUBJECTS.join(',')} on file storage: fix or remove it`);
  if (!o.create) return;
  if (c.max_age !== want.max_age || c.max_bytes !== want.max_bytes || c.duplicate_window !== want.duplicate_window) {
    await jsm.streams.update(AUDIT_STREAM, { ...c, max_age: want.max_age!, max_bytes: want.max_bytes!, duplicate_window: want.duplicate_window! });
    o.log.warn({ stream: AUDIT_STREAM, was: { maxAgeMs: c.max_age / 1e6, maxBytes: c.max_bytes }, now: limits }, 'audit stream limits updated');
  }
}
