// Rate limit for refusal logs: whatever an attacker can repeat at will (a refused ZeroMQ peer
// reconnects every 100 ms, a forged heartbeat can be sent thousands of times a second) must not
// become one log line per attempt, so each (reason, source) is logged at most once a window,
// with the count of what was left out since. The table is
// bounded: past `maxKeys` sources, further ones share one entry per reason. Pure; time comes in.

export interface RefusalLogDecision {
  readonly log: boolean;
  /** Refusals with this key left out of the log since its last line. */
  readonly suppressed: number;
}

interface Entry {
  at: number;
  suppressed: number;
}

export class RefusalLog {
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #entries = new Map<string, Entry>();

  constructor(windowMs = 60_000, maxKeys = 1024) {
    this.#windowMs = windowMs;
    this.#maxKeys = maxKeys;
  }

  /** Whether to log this refusal now; `source` is `*` once the table is full. */
  note(reason: string, source: string, now: number): RefusalLogDecision & { readonly source: string } {
    let key = `${reason}\u0000${source}`;
    if (!this.#entries.has(key) && this.#entries.size >= this.#maxKeys) {
      this.#prune(now);
      if (this.#entries.size >= this.#maxKeys) {
        source = '*';
        key = `${reason}\u0000*`;
      }
    }
    const e = this.#entries.get(key);
    if (e && now - e.at < this.#windowMs) {
      e.suppressed++;
      return { log: false, suppressed: e.suppressed, source };
    }
    this.#entries.set(key, { at: now, suppressed: 0 });
    return { log: true, suppressed: e?.suppressed ?? 0, source };
  }

  #prune(now: number): void {
    for (const [k, e] of this.#entries) if (now - e.at >= this.#windowMs) this.#entries.delete(k);
  }
}
