// A worker's /metrics in vLLM's names, types, labels (`model_name`, `engine`) and buckets.
// Counters and gauges read the engine's own numbers at scrape time; latency histograms are
// observed as requests progress. vLLM: vllm/v1/metrics/loggers.py, docs/design/metrics.md.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { FINISH_REASONS, type Engine } from './engine.ts';

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const REQUEST_LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];
const ITERATION_TOKEN_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];

function tokenBuckets(maxModelLen: number): number[] {
  const out: number[] = [];
  for (let exp = 1; ; exp *= 10) {
    for (const m of [1, 2, 5]) {
      const v = m * exp;
      if (v > maxModelLen) return out;
      out.push(v);
    }
  }
}

export interface WorkerMetricsOptions {
  readonly engine: Engine;
  readonly modelName: string;
  readonly maxModelLen: number;
  readonly nixl: () => { failedTransfers: number; expiredLeases: number };
}

/** Per-request observations the HTTP layer makes. */
export interface RequestObserver {
  firstToken(ttftS: number): void;
  interToken(itlS: number): void;
  finished(r: { e2eS: number; queueS: number; prefillS: number; decodeS: number; promptTokens: number; generationTokens: number }): void;
}

export class WorkerMetrics implements RequestObserver {
  readonly registry = new Registry();
  readonly #ttft;
  readonly #e2e;
  readonly #queue;
  readonly #prefill;
  readonly #decode;
  readonly #promptHist;
  readonly #genHist;
  readonly #iteration;

  constructor(o: WorkerMetricsOptions) {
    const labels = { model_name: o.modelName, engine: '0' };
    const labelNames = ['model_name', 'engine'] as const;
    const registers = [this.registry];
    const e = o.engine;
    // Counters mirror engine totals: each scrape adds what happened since the last one.
    const mirror = (name: string, help: string, read: () => number): void => {
      let seen = 0;
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          const v = read();
          this.inc(labels, Math.max(0, v - seen));
          seen = v;
        },
      });
    };
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.set(labels, read());
        },
      });
    };
    gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', () => e.numRunning);
    gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', () => e.numWaiting);
    gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', () => e.pool.usage);
    mirror('vllm:prefix_cache_queries_total', 'Prefix cache queries, in terms of number of queried tokens.', () => e.stats.prefixQueries);
    mirror('vllm:prefix_cache_hits_total', 'Prefix cache hits, in terms of number of cached tokens.', () => e.stats.prefixHits);
    mirror('vllm:prompt_tokens_total', 'Number of prefill tokens processed.', () => e.stats.promptTokens);
    mirror('vllm:generation_tokens_total', 'Number of generation tokens processed.', () => e.stats.generationTokens);
    mirror('vllm:num_preemptions_total', 'Cumulative number of preemption from the engine.', () => e.stats.preemptions);
    mirror('vllm:nixl_num_failed_transfers_total', 'Number of failed NIXL KV cache transfers.', () => o.nixl().failedTransfers);
    mirror('vllm:nixl_num_kv_expired_reqs_total', 'Number of requests whose KV blocks expired before a decode read them.', () => o.nixl().expiredLeases);

    const seenFinished: Record<string, number> = {};
    new Counter({
      name: 'vllm:request_success_total',
      help: 'Count of successfully processed requests.',
      labelNames: ['model_name', 'engine', 'finished_reason'],
      registers,
      collect() {
        for (const reason of FINISH_REASONS) {
          const v = e.stats.finished[reason];
          this.inc({ ...labels, finished_reason: reason }, Math.max(0, v - (seenFinished[reason] ?? 0)));
          seenFinished[reason] = v;
        }
      },
    });

    const cacheInfo = new Gauge({
      name: 'vllm:cache_config_info',
      help: 'Information of the LLMEngine CacheConfig',
      labelNames: ['block_size', 'num_gpu_blocks', 'cache_dtype', 'enable_prefix_caching', 'gpu_memory_utilization', 'engine'],
      registers,
    });
    cacheInfo.set(
      {
        block_size: String(e.blockSize),
        num_gpu_blocks: String(e.pool.numBlocks),
        cache_dtype: 'auto',
        enable_prefix_caching: 'True',
        gpu_memory_utilization: '0.9',
        engine: '0',
      },
      1,
    );

    const hist = (name: string, help: string, buckets: number[]) => new Histogram({ name, help, buckets, labelNames, registers }).labels(labels);
    this.#ttft = hist('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', TTFT_BUCKETS);
    this.#e2e = hist('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', REQUEST_LATENCY_BUCKETS);
    this.#queue = hist('vllm:request_queue_time_seconds', 'Histogram of time spent in WAITING phase for request.', REQUEST_LATENCY_BUCKETS);
    this.#prefill = hist('vllm:request_prefill_time_seconds', 'Histogram of time spent in PREFILL phase for request.', REQUEST_LATENCY_BUCKETS);
    this.#decode = hist('vllm:request_decode_time_seconds', 'Histogram of time spent in DECODE phase for request.', REQUEST_LATENCY_BUCKETS);
    const tb = tokenBuckets(o.maxModelLen);
    this.#promptHist = hist('vllm:request_prompt_tokens', 'Number of prefill tokens processed.', tb);
    this.#genHist = hist('vllm:request_generation_tokens', 'Number of generation tokens processed.', tb);
    this.#iteration = hist('vllm:iteration_tokens_total', 'Histogram of number of tokens per engine_step.', ITERATION_TOKEN_BUCKETS);
    e.onStep = (tokens) => this.#iteration.observe(tokens);
    this.#labels = `model_name="${o.modelName}",engine="0"`;
  }

  firstToken(ttftS: number): void {
    this.#ttft.observe(ttftS);
  }

  readonly #itlCounts = new Float64Array(ITL_BUCKETS.length + 1);
  #itlSum = 0;
  #itlCount = 0;
  #labels = '';
  interToken(itlS: number): void {
    let i = 0;
    while (i < ITL_BUCKETS.length && itlS > ITL_BUCKETS[i]!) i++;
    this.#itlCounts[i]!++;
    this.#itlSum += itlS;
    this.#itlCount++;
  }

  finished(r: { e2eS: number; queueS: number; prefillS: number; decodeS: number; promptTokens: number; generationTokens: number }): void {
    this.#e2e.observe(r.e2eS);
    this.#queue.observe(r.queueS);
    this.#prefill.observe(r.prefillS);
    this.#decode.observe(r.decodeS);
    this.#promptHist.observe(r.promptTokens);
    this.#genHist.observe(r.generationTokens);
  }

  #renderItl(): string {
    let out = '';
    for (const name of ['vllm:inter_token_latency_seconds', 'vllm:time_per_output_token_seconds']) {
      out += `# HELP ${name} Histogram of inter-token latency in seconds.\n# TYPE ${name} histogram\n`;
      let acc = 0;
      for (let i = 0; i < ITL_BUCKETS.length; i++) {
        acc += this.#itlCounts[i]!;
        out += `${name}_bucket{le="${ITL_BUCKETS[i]}",${this.#labels}} ${acc}\n`;
      }
      out += `${name}_bucket{le="+Inf",${this.#labels}} ${this.#itlCount}\n${name}_sum{${this.#labels}} ${this.#itlSum}\n${name}_count{${this.#labels}} ${this.#itlCount}\n`;
    }
    return out;
  }

  async text(): Promise<string> {
    return (await this.registry.metrics()) + this.#renderItl();
  }
}
