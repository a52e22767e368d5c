// Per-key request and token rates per minute, shared by every ingress replica without a round
// trip per request. The fleet's count for a key and minute lives in one shared counter (the
// LeaseStore: a JetStream KV entry, rate-limit-store.ts). A replica never spends what it has not
// taken from that counter: it takes a *lease* of several units at once (a compare-and-set on the
// counter), spends them locally, and takes another when they run out. The counter can only grow
// up to the limit, so the replicas together can never exceed it, however many there are; what a
// replica leased and did not spend by the end of the minute is lost, so the fleet may fall short
// of the limit by at most one lease per other replica (docs/OVERLOAD.md).
//
// Tokens are counted as OpenAI counts them for its rate limits: when the request is admitted, its
// prompt (estimated, 4 characters a token) plus its `max_tokens`.
// Pure: the store and the clock are injected.

export interface KeyLimits {
  /** Requests per minute; null: no limit. */
  readonly rpm: number | null;
  /** Tokens per minute; null: no limit. */
  readonly tpm: number | null;
}

export type RateKind = 'requests' | 'tokens';

export interface LeaseStore {
  /**
   * Takes up to `want` units of `key`'s counter without passing `limit`. Resolves to what it took
   * and the counter after; throws when the store cannot be reached.
   */
  lease(key: string, want: number, limit: number): Promise<{ readonly granted: number; readonly used: number }>;
}

/** What OpenAI's x-ratelimit-* headers say, per kind: the limit, what is left, seconds to the reset. */
export interface RateState {
  readonly limit: number;
  readonly remaining: number;
  readonly resetS: number;
}

export type Charge =
  | { readonly ok: true; readonly state: Partial<Record<RateKind, RateState>> }
  | { readonly ok: false; readonly kind: RateKind; readonly limit: number; readonly retryAfterS: number; readonly state: Partial<Record<RateKind, RateState>> };

interface Held {
  readonly minute: number;
  /** Leased and not spent yet. */
  held: number;
  /** The fleet's counter as last seen (leases included). */
  used: number;
  /** A lease in progress: later requests wait for it rather than lease again. */
  pending: Promise<void> | null;
}

/** The share of a limit one lease takes: large enough to spare the store, small enough to waste little. */
const LEASE_SHARE = 0.05;

export class RateLimiter {
  readonly #store: LeaseStore;
  readonly #now: () => number;
  readonly #held = new Map<string, Held>();
  /** Store failures: requests then pass (the bus is what serves them; refusing all would be worse). */
  storeErrors = 0;

  constructor(store: LeaseStore, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  /**
   * Charges one request and `tokens` tokens to `flow` (a key name or client address, already made
   * a safe token by the caller) for the current minute.
   */
  async charge(flow: string, limits: KeyLimits, tokens: number): Promise<Charge> {
    const minute = Math.floor(this.#now() / 60_000);
    const resetS = Math.max(1, Math.ceil(((minute + 1) * 60_000 - this.#now()) / 1000));
    const wants: [RateKind, number | null, number][] = [
      ['requests', limits.rpm, 1],
      ['tokens', limits.tpm, tokens],
    ];
    const taken: [Held, number][] = [];
    const seen: [RateKind, Held, number][] = [];
    const state = (): Partial<Record<RateKind, RateState>> => {
      const out: Partial<Record<RateKind, RateState>> = {};
      for (const [kind, h, limit] of seen) out[kind] = { limit, remaining: Math.max(0, limit - h.used + h.held), resetS };
      return out;
    };
    for (const [kind, limit, amount] of wants) {
      if (limit === null) continue;
      const key = `${flow}.${kind === 'requests' ? 'r' : 't'}.${minute}`;
      const h = this.#entry(key, minute);
      seen.push([kind, h, limit]);
      if (!(await this.#take(h, key, amount, limit))) {
        // Nothing is spent of a refused request: what the other kind took goes back to the lease.
        for (const [held, n] of taken) held.held += n;
        return { ok: false, kind, limit, retryAfterS: resetS, state: state() };
      }
      taken.push([h, amount]);
    }
    return { ok: true, state: state() };
  }

  async #take(h: Held, key: string, amount: number, limit: number): Promise<boolean> {
    if (amount > limit) return false;
    while (h.held < amount) {
      // The fleet's counter only grows within a minute: once it reached the limit, asking again is useless.
      if (h.used >= limit) return false;
      if (h.pending) {
        await h.pending;
        continue;
      }
      const want = Math.max(amount - h.held, Math.ceil(limit * LEASE_SHARE));
      let granted = 0;
      h.pending = this.#store.lease(key, want, limit).then(
        (r) => {
          granted = r.granted;
          h.held += r.granted;
          h.used = r.used;
        },
        () => {
          this.storeErrors++;
          granted = -1;
        },
      );
      await h.pending;
      h.pending = null;
      if (granted < 0) return true;
      if (granted === 0) return false;
    }
    h.held -= amount;
    return true;
  }

  #entry(key: string, minute: number): Held {
    let h = this.#held.get(key);
    if (!h) {
      // A new minute: the last minute's leases are void.
      for (const [k, v] of this.#held) if (v.minute < minute && !v.pending) this.#held.delete(k);
      h = { minute, held: 0, used: 0, pending: null };
      this.#held.set(key, h);
    }
    return h;
  }
}

/** OpenAI's reset format: `1s`, `6m0s`. */
export function resetText(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`;
}
