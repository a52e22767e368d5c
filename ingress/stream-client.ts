// The ingress side of the stream protocol (docs/PROTOCOL.md#the-stream-protocol), as a mux subscription in the manner of
// nats.js's muxsubscription.ts: one wildcard subscription on this ingress's response subjects
// (bundles of frames from every scheduler, NATS's no-responders replies, probes) and a Map from
// stream id to its state. Per stream it enforces the protocol: an `accepted` within the accept
// timeout, every later frame from the scheduler that accepted, consecutive sequence numbers, no
// silence beyond the idle timeout, exactly one closing frame. Timeouts are checked by one coarse timer for all streams (as undici's
// lib/util/timers.js trades precision for cost) instead of a timer per stream reset per token.
// Schedulers holding streams are probed for life (see PROBE_TOKEN in proto/subjects.ts).
import { RequestError, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { errors, type RouterError } from '../proto/errors.ts';
import { decodeBundle, type BundleVisitor, type Frame } from '../proto/stream.ts';
import { parseInboundSubject, PROBE_TOKEN, subjects } from '../proto/subjects.ts';
import { atEndOfTurn } from '../runtime/end-of-turn.ts';

export interface StreamHandlers {
  /** A valid, in-order frame. */
  frame(f: Frame): void;
  /** The stream failed on our side of the protocol (timeout, gap, garbage, scheduler gone, bus down). */
  fail(e: RouterError): void;
}

export interface StreamClientOptions {
  readonly acceptTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly probeIntervalMs: number;
}

interface Session {
  readonly id: string;
  readonly handlers: StreamHandlers;
  readonly openedAt: number;
  lastFrameAt: number;
  nextSeq: number;
  scheduler: string | null;
}

const TICK_MS = 100;

/**
 * NATS answered "no responders": no scheduler was subscribed at that moment. That is not "there
 * is no scheduler": right after a bus reconnect the schedulers' subscriptions come back a moment
 * after the ingress's, so the ingress waits and resubmits within the accept timeout.
 */
const noResponderErrors = new WeakSet<RouterError>();

export function noSchedulerSubscribed(): RouterError {
  const e = errors.LLMR_ERR_NO_SCHEDULER();
  noResponderErrors.add(e);
  return e;
}

export function isNoResponders(e: RouterError): boolean {
  return noResponderErrors.has(e);
}

export class StreamClient {
  readonly ingressId: string;
  readonly #nc: NatsConnection;
  readonly #o: StreamClientOptions;
  readonly #log: Logger;
  readonly #sessions = new Map<string, Session>();
  /** Streams cancelled before any scheduler accepted them: id → when. The cancel goes out once one does. */
  readonly #cancelledEarly = new Map<string, number>();
  #sub: Subscription | null = null;
  #timers: NodeJS.Timeout[] = [];
  /** Frames that arrived for no open stream (late, or for a stream we already failed). */
  strayFrames = 0;
  protocolErrors = 0;
  /** Requests NATS answered "no responders" for: no scheduler was subscribed at that moment. */
  noResponders = 0;
  /** Bundles received, and the frames they held; bundles that could not be read to their end. */
  bundles = 0;
  malformedBundles = 0;
  frames = 0;
  readonly #visitor: BundleVisitor = {
    frame: (id, f) => this.#onFrame(id, f),
    malformed: (id, _seq, reason) => {
      const s = this.#sessions.get(id);
      if (s) this.#broken(s, `malformed frame: ${reason}`);
      else this.strayFrames++;
    },
  };
  /** The scheduler whose bundle is being read, and when it came. */
  #from = '';
  #bundleAt = 0;

  constructor(nc: NatsConnection, ingressId: string, o: StreamClientOptions, log: Logger) {
    this.#nc = nc;
    this.ingressId = ingressId;
    this.#o = o;
    this.#log = log;
  }

  get openStreams(): number {
    return this.#sessions.size;
  }

  async start(): Promise<void> {
    this.#sub = this.#nc.subscribe(subjects.responseAll(this.ingressId), {
      callback: (err, msg) => {
        if (!err) this.#onMessage(msg);
      },
    });
    await this.#nc.flush();
    this.#timers.push(
      setInterval(() => this.#tick(), TICK_MS),
      setInterval(() => void this.#probe(), this.#o.probeIntervalMs),
    );
  }

  /**
   * Registers a stream and puts its request on the bus, replying to this stream's subject. The
   * publish happens at the end of this turn with every other request of the turn (one socket
   * write for all of them); if it fails then, the stream fails with `publishError(e)`.
   */
  submit(id: string, handlers: StreamHandlers, subject: string, payload: Uint8Array, headers: MsgHdrs, publishError: (e: unknown) => RouterError): void {
    if (this.#nc.isClosed()) throw errors.LLMR_ERR_BUS_UNAVAILABLE('the NATS connection is closed');
    const now = Date.now();
    this.#sessions.set(id, { id, handlers, openedAt: now, lastFrameAt: now, nextSeq: 0, scheduler: null });
    atEndOfTurn(() => {
      if (!this.#sessions.has(id)) return; // cancelled within the turn: never sent
      try {
        this.#nc.publish(subject, payload, { reply: subjects.response(this.ingressId, id), headers });
      } catch (e) {
        this.#sessions.delete(id);
        handlers.fail(publishError(e));
      }
    });
  }

  /** Forget a stream without telling anyone (it ended normally). */
  close(id: string): void {
    this.#sessions.delete(id);
  }

  /** The client went away or read too slowly: tell the scheduler that accepted, and forget the stream. */
  cancel(id: string): void {
    const s = this.#sessions.get(id);
    if (!s) return;
    this.#sessions.delete(id);
    if (s.scheduler) this.#publishCancel(s.scheduler, id);
    else this.#cancelledEarly.set(id, Date.now());
  }

  /** Fails every open stream (shutdown, bus loss). */
  failAll(e: () => RouterError): void {
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const s of all) {
      if (s.scheduler) this.#publishCancel(s.scheduler, s.id);
      s.handlers.fail(e());
    }
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.failAll(() => errors.LLMR_ERR_SHUTTING_DOWN());
    this.#sub?.unsubscribe();
    this.#sub = null;
  }

  #publishCancel(scheduler: string, id: string): void {
    try {
      this.#nc.publish(subjects.cancel(scheduler, this.ingressId), id);
    } catch {
      // bus down: the scheduler's probe of this ingress or its own timeouts will end the call
    }
  }

  #onMessage(msg: Msg): void {
    const at = parseInboundSubject(msg.subject);
    if (at === null) {
      this.strayFrames++;
      return;
    }
    if (at.scheduler !== null) {
      this.#onBundle(at.scheduler, msg.data);
      return;
    }
    if (at.streamId === PROBE_TOKEN) {
      if (msg.reply) msg.respond();
      return;
    }
    // On a stream's own reply subject only NATS speaks: a request nobody subscribes to gets a
    // 503 status message there.
    const s = this.#sessions.get(at.streamId);
    if (s && s.scheduler === null && msg.headers?.code === 503 && msg.data.length === 0) {
      this.#sessions.delete(s.id);
      this.noResponders++;
      s.handlers.fail(noSchedulerSubscribed());
    } else this.strayFrames++;
  }

  #onBundle(scheduler: string, data: Uint8Array): void {
    this.bundles++;
    this.#from = scheduler;
    this.#bundleAt = Date.now();
    const lost = decodeBundle(data, scheduler, this.#visitor);
    if (lost === null) return;
    // The rest of the bundle is unreadable: any stream of that scheduler may have lost frames.
    this.malformedBundles++;
    this.#log.warn({ scheduler, why: lost }, 'malformed bundle: failing the streams of its scheduler');
    for (const s of [...this.#sessions.values()]) if (s.scheduler === scheduler) this.#broken(s, `malformed bundle: ${lost}`);
  }

  #onFrame(id: string, f: Frame): void {
    this.frames++;
    const s = this.#sessions.get(id);
    if (!s) {
      if (f.kind === 'accepted' && this.#cancelledEarly.delete(id)) {
        // Cancelled before it was accepted: now we know where to send the cancel.
        this.#publishCancel(this.#from, id);
      } else this.strayFrames++;
      return;
    }
    if (f.seq !== s.nextSeq) {
      this.#broken(s, `frame ${f.seq} arrived when ${s.nextSeq} was due`);
      return;
    }
    if (f.kind === 'accepted') {
      if (s.scheduler !== null) {
        this.#broken(s, 'second accepted frame');
        return;
      }
      s.scheduler = this.#from;
    } else if (s.scheduler === null) {
      this.#broken(s, `${f.kind} before accepted`);
      return;
    } else if (s.scheduler !== this.#from) {
      this.#broken(s, `${f.kind} from ${this.#from}, which did not accept the stream`);
      return;
    }
    s.nextSeq++;
    s.lastFrameAt = this.#bundleAt;
    if (f.kind === 'end' || f.kind === 'error') this.#sessions.delete(id);
    s.handlers.frame(f);
  }

  #broken(s: Session, why: string): void {
    this.protocolErrors++;
    this.#log.warn({ streamId: s.id, scheduler: s.scheduler, why }, 'stream protocol error');
    this.#sessions.delete(s.id);
    if (s.scheduler) this.#publishCancel(s.scheduler, s.id);
    s.handlers.fail(errors.LLMR_ERR_STREAM_BROKEN(why));
  }

  #tick(): void {
    const now = Date.now();
    for (const [id, at] of this.#cancelledEarly) if (now - at > this.#o.acceptTimeoutMs) this.#cancelledEarly.delete(id);
    for (const s of this.#sessions.values()) {
      if (s.scheduler === null) {
        if (now - s.openedAt > this.#o.acceptTimeoutMs) {
          this.#sessions.delete(s.id);
          s.handlers.fail(errors.LLMR_ERR_NO_SCHEDULER());
        }
      } else if (now - s.lastFrameAt > this.#o.idleTimeoutMs) {
        this.#sessions.delete(s.id);
        this.#publishCancel(s.scheduler, s.id);
        s.handlers.fail(errors.LLMR_ERR_STREAM_IDLE(String(this.#o.idleTimeoutMs)));
      }
    }
  }

  /** Asks each scheduler holding streams from here whether it lives; fails the streams of the dead. */
  async #probe(): Promise<void> {
    const schedulers = new Set<string>();
    for (const s of this.#sessions.values()) if (s.scheduler) schedulers.add(s.scheduler);
    await Promise.all(
      [...schedulers].map(async (sched) => {
        try {
          await this.#nc.request(subjects.cancel(sched, this.ingressId), undefined, { timeout: Math.max(1000, this.#o.probeIntervalMs * 2) });
        } catch (e) {
          if (!(e instanceof RequestError && e.isNoResponders())) return;
          for (const s of [...this.#sessions.values()]) {
            if (s.scheduler !== sched) continue;
            this.#sessions.delete(s.id);
            s.handlers.fail(errors.LLMR_ERR_STREAM_BROKEN(`scheduler ${sched} is gone`));
          }
          this.#log.warn({ scheduler: sched }, 'scheduler is gone: failed its streams');
        }
      }),
    );
  }
}
