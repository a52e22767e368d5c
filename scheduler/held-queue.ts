// Requests a scheduler holds while every worker of their model is saturated (saturation.ts):
// per model, the lowest priority number first (vLLM's convention), first come first served
// within a priority; at most `capacity` in all. Pure: the service owns the timers and the
// dispatching.

export class HeldQueue<T> {
  readonly #capacity: number;
  /** model → priority → FIFO; a priority or model with nothing held is deleted. */
  readonly #byModel = new Map<string, Map<number, T[]>>();
  #size = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#size;
  }

  /** Requests held for `model`. */
  heldFor(model: string): number {
    let n = 0;
    for (const q of this.#byModel.get(model)?.values() ?? []) n += q.length;
    return n;
  }

  /** Models with something held. */
  models(): string[] {
    return [...this.#byModel.keys()];
  }

  /** False (nothing held) when the queue is full. */
  hold(model: string, priority: number, item: T): boolean {
    if (this.#size >= this.#capacity) return false;
    let bands = this.#byModel.get(model);
    if (!bands) {
      bands = new Map();
      this.#byModel.set(model, bands);
    }
    let q = bands.get(priority);
    if (!q) {
      q = [];
      bands.set(priority, q);
    }
    q.push(item);
    this.#size++;
    return true;
  }

  /** The most urgent, oldest request held for `model`, taken out; undefined when none. */
  shift(model: string): T | undefined {
    const bands = this.#byModel.get(model);
    if (!bands) return undefined;
    let best: number | undefined;
    for (const p of bands.keys()) if (best === undefined || p < best) best = p;
    if (best === undefined) return undefined;
    const q = bands.get(best)!;
    const item = q.shift()!;
    this.#size--;
    if (q.length === 0) this.#drop(model, bands, best);
    return item;
  }

  /** Takes `item` out (it timed out, or its client left); false when it was not held. */
  remove(model: string, priority: number, item: T): boolean {
    const bands = this.#byModel.get(model);
    const q = bands?.get(priority);
    const i = q?.indexOf(item) ?? -1;
    if (!bands || !q || i < 0) return false;
    q.splice(i, 1);
    this.#size--;
    if (q.length === 0) this.#drop(model, bands, priority);
    return true;
  }

  /** Takes everything out (a stop), oldest first per model. */
  clear(): T[] {
    const out: T[] = [];
    for (const bands of this.#byModel.values()) for (const q of bands.values()) out.push(...q);
    this.#byModel.clear();
    this.#size = 0;
    return out;
  }

  #drop(model: string, bands: Map<number, T[]>, priority: number): void {
    bands.delete(priority);
    if (bands.size === 0) this.#byModel.delete(model);
  }
}
