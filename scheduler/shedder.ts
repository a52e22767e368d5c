// Fleet-aware shedding: a request for a model whose every worker is saturated (saturation.ts) is
// held here rather than sent to pile up in vLLM's queues, and dispatched when a worker has room
// again, the most urgent priority first (held-queue.ts). Room is looked for whenever something
// could have made it: a request of the model ended, a heartbeat arrived, and on a short tick. A
// request that cannot be held (the queue is full) or is held too long is refused with
// LLMR_ERR_FLEET_SATURATED and a Retry-After; one whose client leaves is dropped quietly.
//
// A pass releases at most one request per worker that has room: a whole request counts as in
// flight on its worker the moment it starts, so the estimate sees it at once, but a P/D request
// reaches its decode worker only after its prefill, and releasing the whole queue on one pass
// would pour it onto the first worker that looked free.
import { errors, type RouterError } from '../proto/errors.ts';
import { DrainRate } from '../runtime/drain-rate.ts';
import { HeldQueue } from './held-queue.ts';
import type { ShedOptions } from './options.ts';
import type { WorkerView } from './registry.ts';
import type { Saturation } from './saturation.ts';

export type HeldResult = 'released' | 'full' | 'timeout' | 'cancelled';

/** A request the shedder may hold: how to start it, and how to end it unstarted. */
export interface Holdable {
  readonly model: string;
  readonly priority: number;
  /** Dispatch it now. */
  start(): void;
  /** End it without a worker: refused with `e`, or (null) its client left. */
  end(e: RouterError | null): void;
}

export interface ShedderDeps {
  readonly saturation: Pick<Saturation, 'saturated' | 'allSaturated'>;
  /** The workers whose saturation decides whether `model` has room. */
  readonly workersOf: (model: string) => readonly WorkerView[];
  readonly events: { held(result: HeldResult, waitedS: number): void };
}

interface Entry {
  readonly req: Holdable;
  readonly since: number;
  readonly timer: NodeJS.Timeout;
  readonly detach: () => void;
}

export class Shedder {
  readonly #o: ShedOptions;
  readonly #d: ShedderDeps;
  readonly #queue: HeldQueue<Entry>;
  readonly #drain = new DrainRate();
  #tick: NodeJS.Timeout | null = null;

  constructor(o: ShedOptions, d: ShedderDeps) {
    this.#o = o;
    this.#d = d;
    this.#queue = new HeldQueue(o.queueSize);
  }

  /** Requests held now. */
  get held(): number {
    return this.#queue.size;
  }

  /** Whether every worker of `model` is saturated (a 429 or 503 from one is then not worth retrying elsewhere). */
  saturated(model: string): boolean {
    return this.#d.saturation.allSaturated(this.#d.workersOf(model));
  }

  /**
   * False: dispatch `req` now. True: the shedder has it (held, or refused already). Requests
   * already held for the model go first, so a newcomer never overtakes them.
   */
  admit(req: Holdable, signal: AbortSignal): boolean {
    if (this.#queue.heldFor(req.model) === 0 && !this.saturated(req.model)) return false;
    if (signal.aborted) {
      req.end(null);
      return true;
    }
    const since = performance.now();
    const entry: Entry = {
      req,
      since,
      timer: setTimeout(() => this.#leave(entry, 'timeout'), this.#o.queueTimeoutMs),
      detach: () => signal.removeEventListener('abort', onAbort),
    };
    const onAbort = (): void => this.#leave(entry, 'cancelled');
    if (!this.#queue.hold(req.model, req.priority, entry)) {
      clearTimeout(entry.timer);
      this.#d.events.held('full', 0);
      req.end(this.#refusal(req.model, 'its hold queue is full'));
      return true;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    this.#ensureTick();
    // Room may have come while others were held: look at once.
    this.pump(req.model);
    return true;
  }

  /** Starts what `model`'s workers have room for (every model's when absent). */
  pump(model?: string): void {
    if (this.#queue.size === 0) return;
    for (const m of model === undefined ? this.#queue.models() : [model]) {
      const workers = this.#d.workersOf(m);
      let room = 0;
      for (const w of workers) if (!this.#d.saturation.saturated(w)) room++;
      for (; room > 0; room--) {
        const e = this.#queue.shift(m);
        if (e === undefined) break;
        this.#settle(e);
        this.#d.events.held('released', (performance.now() - e.since) / 1000);
        this.#drain.note(performance.now());
        e.req.start();
        if (this.#d.saturation.allSaturated(workers)) break;
      }
    }
    if (this.#queue.size === 0) this.#stopTick();
  }

  /** Refuses everything held (a stop). */
  stop(): void {
    this.#stopTick();
    for (const e of this.#queue.clear()) {
      this.#settle(e);
      e.req.end(errors.LLMR_ERR_SHUTTING_DOWN());
    }
  }

  #leave(e: Entry, result: 'timeout' | 'cancelled'): void {
    if (!this.#queue.remove(e.req.model, e.req.priority, e)) return;
    this.#settle(e);
    const waited = performance.now() - e.since;
    this.#d.events.held(result, waited / 1000);
    e.req.end(result === 'cancelled' ? null : this.#refusal(e.req.model, `the request waited ${Math.round(waited)} ms for room`));
    if (this.#queue.size === 0) this.#stopTick();
  }

  #settle(e: Entry): void {
    clearTimeout(e.timer);
    e.detach();
  }

  #refusal(model: string, why: string): RouterError {
    const e = errors.LLMR_ERR_FLEET_SATURATED(model, why);
    e.retryAfterS = this.#drain.retryAfterS(this.#queue.heldFor(model) + 1, this.#o.queueTimeoutMs / 1000);
    return e;
  }

  /** Heartbeats and ends trigger passes; the tick covers what they miss (a worker joining, a breaker closing). */
  #ensureTick(): void {
    if (this.#tick) return;
    this.#tick = setInterval(() => this.pump(), 50);
    this.#tick.unref();
  }

  #stopTick(): void {
    if (this.#tick) clearInterval(this.#tick);
    this.#tick = null;
  }
}
