// Whether this process is connected to NATS right now, from the connection's status events, and
// a way to wait for the connection to come back (a request arriving during a short bus outage
// is better served a moment late than refused). One per connection (BusState.of): it runs the
// connection's only loop over nc.status(), and whatever else follows the connection (its log
// lines, its metrics) subscribes here instead of iterating the events again.
import type { NatsConnection, Status } from '@nats-io/transport-node';

export type StatusListener = (s: Status) => void;

export class BusState {
  static readonly #byConnection = new WeakMap<NatsConnection, BusState>();

  /** The connection's BusState, made (and its status loop started) at the first call. */
  static of(nc: NatsConnection): BusState {
    let b = BusState.#byConnection.get(nc);
    if (!b) {
      b = new BusState(nc);
      BusState.#byConnection.set(nc, b);
    }
    return b;
  }

  readonly #nc: NatsConnection;
  #up: boolean;
  readonly #waiters = new Set<() => void>();
  readonly #listeners: { status: StatusListener[]; down: (() => void)[]; up: (() => void)[] } = { status: [], down: [], up: [] };

  private constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#up = !nc.isClosed();
    void this.#follow();
  }

  async #follow(): Promise<void> {
    for await (const s of this.#nc.status()) {
      const was = this.#up;
      if (s.type === 'disconnect') this.#up = false;
      else if (s.type === 'reconnect') this.#up = true;
      for (const f of this.#listeners.status) f(s);
      if (was && !this.#up) for (const f of this.#listeners.down) f();
      else if (!was && this.#up) {
        for (const f of this.#listeners.up) f();
        for (const w of this.#waiters) w();
        this.#waiters.clear();
      }
    }
  }

  get up(): boolean {
    return this.#up && !this.#nc.isClosed();
  }

  /** Every status event of the connection, as it comes (after `up` has taken it into account). */
  onStatus(f: StatusListener): void {
    this.#listeners.status.push(f);
  }

  onDown(f: () => void): void {
    this.#listeners.down.push(f);
  }

  onUp(f: () => void): void {
    this.#listeners.up.push(f);
  }

  /** Resolves true as soon as the bus is up, false if it is still down after `ms`. */
  whenUp(ms: number): Promise<boolean> {
    if (this.up) return Promise.resolve(true);
    if (this.#nc.isClosed()) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        resolve(true);
      };
      const t = setTimeout(() => {
        this.#waiters.delete(done);
        resolve(false);
      }, ms);
      this.#waiters.add(done);
    });
  }
}
