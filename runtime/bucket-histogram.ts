// A Prometheus histogram for the token path. prom-client's Histogram.observe(labels, v) hashes
// the label object and validates it on every call, which shows in profiles when it runs once per
// token. Here a series (one set of label values) is found by its values, without building an
// object, and observing is a walk over the bucket bounds that allocates nothing. The text is
// rendered at scrape time by prom-client's own Registry, from the shape its Histogram hands it,
// so /metrics reads exactly as it did: names, help, labels (default ones too), buckets, numbers.
import type { Metric, Registry, RegistryContentType } from 'prom-client';

/** At most this many labels: the lookup takes the values as arguments, not as an array. */
const MAX_LABELS = 3;

export interface BucketHistogramConfig {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** Upper bounds, ascending; `+Inf` is implied. */
  readonly buckets: readonly number[];
  readonly registers: readonly Registry<RegistryContentType>[];
}

/** One series: a count per bucket (not cumulative), the sum and the count of what it observed. */
export class HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly #bounds: Float64Array;
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(labels: Readonly<Record<string, string>>, bounds: Float64Array) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length);
  }

  /**
   * Counts `v` in the first bucket whose bound is at least `v` (only in the count and the sum
   * above the last bound, as prom-client does). A value that is not a finite number is dropped:
   * prom-client throws on it, which would break the stream being timed.
   */
  observe(v: number): void {
    if (!Number.isFinite(v)) return;
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && v > (b[i] as number)) i++;
    if (i < b.length) this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += v;
    this.count++;
  }
}

/** A label value's subtree: the next label's values, or the series at the last one. */
type Tree = Map<string, Tree | HistogramSeries>;

/** What prom-client's Histogram hands the registry for one line (see lib/histogram.js). */
interface LineValue {
  readonly labels: Record<string, string | number>;
  readonly sharedLabels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly metricName: string;
  readonly exemplar: null | undefined;
}

export class BucketHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: readonly string[];
  readonly #bounds: Float64Array;
  #tree: Tree = new Map();
  /** Every series, in the order first seen: the order prom-client renders them in. */
  #all: HistogramSeries[] = [];

  constructor(c: BucketHistogramConfig) {
    if (c.labelNames.length > MAX_LABELS) throw new Error(`${c.name}: at most ${MAX_LABELS} labels`);
    if (c.labelNames.includes('le')) throw new Error('le is a reserved label keyword');
    for (let i = 1; i < c.buckets.length; i++) if (!((c.buckets[i] as number) > (c.buckets[i - 1] as number))) throw new Error(`${c.name}: buckets must ascend`);
    this.name = c.name;
    this.help = c.help;
    this.labelNames = [...c.labelNames];
    this.#bounds = Float64Array.from(c.buckets);
    // Without labels prom-client shows the one series, zeros, before anything is observed.
    if (this.labelNames.length === 0) this.#add([]);
    // prom-client's types list its own classes only; its registry needs no more than this class has.
    for (const r of c.registers) r.registerMetric(this as unknown as Metric);
  }

  /**
   * The series for these label values, in `labelNames` order, made on first use. Keep it for a
   * request's life, or call this per observation: a hit is a Map lookup per label.
   */
  series(a?: string, b?: string, c?: string): HistogramSeries {
    const n = this.labelNames.length;
    let node: Tree | HistogramSeries | undefined = this.#tree;
    if (n > 0) node = node.get(a as string);
    if (n > 1 && node instanceof Map) node = node.get(b as string);
    if (n > 2 && node instanceof Map) node = node.get(c as string);
    if (n === 0) node = this.#all[0];
    return node instanceof HistogramSeries ? node : this.#add([a, b, c]);
  }

  #add(values: readonly (string | undefined)[]): HistogramSeries {
    const n = this.labelNames.length;
    const labels: Record<string, string> = {};
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v !== 'string') throw new Error(`${this.name}: no value for label ${this.labelNames[i]}`);
      labels[this.labelNames[i] as string] = v;
    }
    const s = new HistogramSeries(labels, this.#bounds);
    this.#all.push(s);
    let node = this.#tree;
    for (let i = 0; i < n - 1; i++) {
      const key = values[i] as string;
      let next = node.get(key);
      if (!(next instanceof Map)) {
        next = new Map();
        node.set(key, next);
      }
      node = next;
    }
    if (n > 0) node.set(values[n - 1] as string, s);
    return s;
  }

  /** Forgets every series (the unlabelled one too, as prom-client does); a series kept by a caller no longer shows. */
  reset(): void {
    this.#tree = new Map();
    this.#all = [];
  }

  /** For Registry.metrics(): bucket lines carry `le`, the series' labels travel as shared. */
  async getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: LineValue[]; aggregator: 'sum' }> {
    const bucket = `${this.name}_bucket`;
    const values: LineValue[] = [];
    for (const s of this.#all) {
      let acc = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        acc += s.counts[i] as number;
        values.push({ labels: { le: this.#bounds[i] as number }, sharedLabels: s.labels, value: acc, metricName: bucket, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** For getMetricsAsJSON() and tests: as prom-client's get(), each line's labels in one object. */
  async get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    values: { value: number; metricName: string; exemplar: null | undefined; labels: Record<string, string | number> }[];
    aggregator: 'sum';
  }> {
    const data = await this.getForPromString();
    const values = data.values.map(({ sharedLabels, labels, ...line }) => ({ ...line, labels: Object.assign(labels, sharedLabels) }));
    return { ...data, values };
  }
}
