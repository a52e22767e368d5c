// "Log this once per key per window": a refusal that an attacker can repeat at will must not
// become one log line per message. Bounded: past `maxKeys` the oldest keys are forgotten.
export class OncePer {
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #last = new Map<string, number>();

  constructor(windowMs: number, maxKeys: number) {
    this.#windowMs = windowMs;
    this.#maxKeys = maxKeys;
  }

  /** True when `key` was not seen within the window (and records it). */
  first(key: string, now: number): boolean {
    const at = this.#last.get(key);
    if (at !== undefined && now - at < this.#windowMs) return false;
    this.#last.delete(key);
    this.#last.set(key, now);
    if (this.#last.size > this.#maxKeys) this.#last.delete(this.#last.keys().next().value!);
    return true;
  }
}
