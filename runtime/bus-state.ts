// Whether this process is connected to NATS right now, from the connection's status events, and
// a way to wait for the connection to come back (a request arriving during a short bus outage
// is better served a moment late than refused).
import type { NatsConnection } from '@nats-io/transport-node';

export class BusState {
  readonly #nc: NatsConnection;
  #up = true;
  #waiters = new Set<() => void>();
  readonly #listeners: { down: (() => void)[]; up: (() => void)[] } = { down: [], up: [] };

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#up = !nc.isClosed();
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' && this.#up) {
          this.#up = false;
          for (const f of this.#listeners.down) f();
        } else if (s.type === 'reconnect' && !this.#up) {
          this.#up = true;
          for (const f of this.#listeners.up) f();
          for (const w of this.#waiters) w();
          this.#waiters.clear();
        }
      }
    })();
  }

  get up(): boolean {
    return this.#up && !this.#nc.isClosed();
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
