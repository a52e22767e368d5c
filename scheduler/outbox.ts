// The scheduler's side of stream protocol v2: one outbox per ingress, which packs the frames of
// every stream this scheduler has open for that ingress into one NATS message (a bundle,
// proto/stream.ts) and publishes it on `llm.v2.resp.<ingressId>._frames.<schedulerId>`.
//
// When it publishes is the whole trade: a bundle leaves at the end of the turn in which its first
// frame was written, unless the outbox published less than `lingerMs` ago — then it waits until
// `lingerMs` after that publish. An idle outbox therefore adds no latency at all, and a busy one
// publishes at most once per `lingerMs`, however many tokens its streams produce: the bus's cost
// per token falls as load rises (one socket write, one message through nats-server, one read at
// the ingress for all of them). A bundle that reaches 64 KiB leaves at once.
//
// A head (the worker's first bytes: the client's time to first token) does not wait for the
// linger: its bundle leaves at the end of the turn, with whatever else is ready by then.
//
// A bundle that holds nothing but `accepted` frames waits up to ACCEPT_HOLD_MS for what follows
// them (the worker's answer, often within milliseconds): a short request then costs one bundle,
// not two. The ingress needs `accepted` within its accept timeout (seconds), and a cancel that
// comes before it is remembered until it arrives.
import type { NatsConnection } from '@nats-io/transport-node';
import { subjects } from '../proto/subjects.ts';
import { BundleEncoder, FRAME_OVERHEAD, type Kind } from '../proto/stream.ts';
import { atEndOfTurn } from '../runtime/end-of-turn.ts';
import { StreamWriter } from './stream-writer.ts';

/** Room left in a message below the bus's max_payload (NATS adds nothing to the payload, but be safe). */
const ROOM = 1024;
/** A bundle this large leaves without waiting for the end of the turn or the linger. */
const PUBLISH_BYTES = 64 * 1024;
/** An outbox not used for this long is forgotten (its ingress is gone or idle). */
const IDLE_MS = 60_000;
/** How long a bundle of nothing but `accepted` frames waits for the frames that follow them. */
export const ACCEPT_HOLD_MS = 20;

/**
 * When a frame wants its bundle to leave: `turn` at the end of this turn whatever the linger (a
 * head: the client's time to first token is waiting on it), `linger` at the end of the turn or
 * the linger after the last publish, `hold` within ACCEPT_HOLD_MS (an `accepted`).
 */
export type Urgency = 'turn' | 'linger' | 'hold';

export interface OutboxOptions {
  /** After a publish, how long the next bundle to the same ingress waits at most (0: end of turn only). */
  readonly lingerMs: number;
}

/** What the outboxes published, for metrics. */
export interface OutboxStats {
  bundles: number;
  frames: number;
  bytes: number;
  /** Bundles that could not be published (the connection closed); their streams ended. */
  failed: number;
}

export class Outbox {
  readonly subject: string;
  /** The largest data payload a frame may carry. */
  readonly maxData: number;
  readonly #nc: NatsConnection;
  readonly #o: OutboxOptions;
  readonly #stats: OutboxStats;
  readonly #maxBundle: number;
  readonly #encoder = new BundleEncoder();
  /** Writers with frames or bytes waiting, each once, in the order they first wrote. */
  #dirty: StreamWriter[] = [];
  #spare: StreamWriter[] = [];
  /** Writers with a frame in the bundle being built: they lose their stream if it cannot be published. */
  readonly #inBundle: StreamWriter[] = [];
  #pendingBytes = 0;
  /** When the next publish is due (performance.now()), or null when nothing waits. */
  #dueAt: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastPublishAt = Number.NEGATIVE_INFINITY;
  lastUsedAt = performance.now();
  /**
   * Runs when a publish may be due. It can run early: a job of an earlier schedule still queued
   * after a flush and a new, later schedule, or a timer measured from the event loop's cached
   * clock (which lags performance.now() by however long the turn that set it had run). Then it
   * waits for the rest rather than publish early — and never drops the schedule, which would
   * leave the bundle (an `end`, say) waiting for the next frame.
   */
  readonly #flushJob = (): void => {
    if (this.#dueAt === null) return;
    const rest = this.#dueAt - performance.now();
    // Timers count whole milliseconds: within one, publish now.
    if (rest < 1) {
      this.flush();
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(this.#flushJob, rest);
  };

  constructor(nc: NatsConnection, subject: string, o: OutboxOptions, stats: OutboxStats) {
    this.#nc = nc;
    this.subject = subject;
    this.#o = o;
    this.#stats = stats;
    this.#maxBundle = Math.max(8 * 1024, (nc.info?.max_payload ?? 1024 * 1024) - ROOM);
    this.maxData = this.#maxBundle - 1 - FRAME_OVERHEAD;
  }

  /** `w` has something to send: it goes in the next bundle, which leaves when `when` says (the soonest asked for wins). */
  mark(w: StreamWriter, when: Urgency = 'linger'): void {
    if (!w.dirty) {
      w.dirty = true;
      this.#dirty.push(w);
    }
    this.#schedule(when);
  }

  /** `n` more body bytes wait in a writer; a bundle that grows large enough leaves now. */
  addBytes(n: number): void {
    this.#pendingBytes += n;
    if (this.#pendingBytes >= PUBLISH_BYTES) this.flush();
  }

  /** Publishes everything waiting, in order (the schedule calls this; so may a test). */
  flush(): void {
    this.#dueAt = null;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#pendingBytes = 0;
    // Two arrays swapped, not a fresh one per flush: with thousands of open streams a new array
    // each millisecond would be garbage that outlives the young generation.
    const dirty = this.#dirty;
    this.#dirty = this.#spare;
    for (let i = 0; i < dirty.length; i++) {
      const w = dirty[i]!;
      w.dirty = false;
      w.drainInto(this);
    }
    dirty.length = 0;
    this.#spare = dirty;
    if (this.#encoder.frames > 0) this.#publish();
  }

  /** @internal A writer's frame, in its stream's order. */
  frame(w: StreamWriter, kind: Kind, seq: number, payload: Uint8Array): void {
    if (this.#encoder.size + FRAME_OVERHEAD + payload.length > this.#maxBundle) this.#publish();
    this.#encoder.add(w.streamId, kind, seq, payload);
    this.#inBundle.push(w);
  }

  #schedule(when: Urgency): void {
    const now = performance.now();
    const due = when === 'turn' ? now : Math.max(when === 'hold' ? now + ACCEPT_HOLD_MS : now, this.#lastPublishAt + this.#o.lingerMs);
    if (this.#dueAt !== null && this.#dueAt <= due) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#dueAt = due;
    if (due <= now) atEndOfTurn(this.#flushJob);
    else this.#timer = setTimeout(this.#flushJob, due - now);
  }

  #publish(): void {
    const frames = this.#encoder.frames;
    const bundle = this.#encoder.take();
    this.#lastPublishAt = this.lastUsedAt = performance.now();
    try {
      this.#nc.publish(this.subject, bundle);
      this.#stats.bundles++;
      this.#stats.frames += frames;
      this.#stats.bytes += bundle.length;
    } catch {
      // Only a closed connection gets here (a bundle never exceeds max_payload). Its streams
      // stop on this side; the ingress learns from its bus status and probes.
      this.#stats.failed++;
      for (const w of this.#inBundle) w.lost();
    }
    this.#inBundle.length = 0;
  }
}

/** The outboxes of one scheduler, one per ingress it answers. */
export class Outboxes {
  readonly stats: OutboxStats = { bundles: 0, frames: 0, bytes: 0, failed: 0 };
  readonly #nc: NatsConnection;
  readonly #schedulerId: string;
  readonly #o: OutboxOptions;
  readonly #byIngress = new Map<string, Outbox>();

  constructor(nc: NatsConnection, schedulerId: string, o: OutboxOptions) {
    this.#nc = nc;
    this.#schedulerId = schedulerId;
    this.#o = o;
  }

  /** A writer for stream `streamId` of `ingressId` (both subject ids). */
  writer(ingressId: string, streamId: string): StreamWriter {
    let box = this.#byIngress.get(ingressId);
    if (!box) {
      box = new Outbox(this.#nc, subjects.frames(ingressId, this.#schedulerId), this.#o, this.stats);
      this.#byIngress.set(ingressId, box);
    }
    box.lastUsedAt = performance.now();
    return new StreamWriter(box, streamId);
  }

  /** Outboxes held (one per ingress recently answered). */
  get size(): number {
    return this.#byIngress.size;
  }

  /** Forgets outboxes unused for a minute (the writers still open keep theirs alive). */
  sweep(now = performance.now()): void {
    for (const [id, box] of this.#byIngress) if (now - box.lastUsedAt > IDLE_MS) this.#byIngress.delete(id);
  }

  /** Publishes what every outbox holds (on stop). */
  flushAll(): void {
    for (const box of this.#byIngress.values()) box.flush();
  }
}
