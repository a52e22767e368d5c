// The ingress's Prometheus metrics (prom-client), served at GET /metrics on the metrics port (not
// the public one): requests by route, status, model and API key name, latencies as the client
// sees them, open streams, errors by code, router-owned fields stripped from bodies and the NATS
// connection. Every name is documented in the README. The histograms are bucket arrays
// (runtime/bucket-histogram.ts): time to first byte and the gaps between writes are observed per
// token.
import { Counter, Gauge, Registry } from 'prom-client';
import { BucketHistogram } from '../runtime/bucket-histogram.ts';

const TTFT = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3, 6, 12, 30, 60, 120];
const CHUNK_GAP = [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2.5];
const REQUEST = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600];

export class IngressMetrics {
  readonly registry = new Registry();
  readonly #requests;
  readonly #duration;
  readonly #ttft;
  readonly #gap;
  readonly #errors;
  readonly #stripped;
  readonly #admissions;
  readonly #rateLimited;
  readonly #admissionWait;

  constructor(
    ingressId: string,
    openStreams: () => number,
    admission: { readonly inFlight: number; readonly waiting: number } = { inFlight: 0, waiting: 0 },
    rateLimitStore: { readonly storeErrors: number } = { storeErrors: 0 },
  ) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ ingress: ingressId });
    this.#requests = new Counter({
      name: 'llm_router_http_requests_total',
      help: 'HTTP requests answered, by route, method, status, model (only for answers below 400) and the name of the API key that was admitted (empty when keys are off or none was).',
      labelNames: ['route', 'method', 'status', 'model', 'api_key'],
      registers,
    });
    this.#duration = new BucketHistogram({
      name: 'llm_router_http_request_duration_seconds',
      help: 'From receiving a request to the end of its answer (end-to-end latency).',
      labelNames: ['route', 'status_class'],
      buckets: REQUEST,
      registers,
    });
    this.#ttft = new BucketHistogram({
      name: 'llm_router_ttft_seconds',
      help: "From receiving a request to its answer's first body byte sent to the client (time to first token for streams).",
      labelNames: ['route', 'model'],
      buckets: TTFT,
      registers,
    });
    this.#gap = new BucketHistogram({
      name: 'llm_router_itl_seconds',
      help: 'Between body writes of a streamed answer, as the client receives them (inter-token latency, coalesced under load).',
      labelNames: ['route', 'model'],
      buckets: CHUNK_GAP,
      registers,
    });
    this.#errors = new Counter({
      name: 'llm_router_errors_total',
      help: 'Requests that ended with a router error, by LLMR_ERR_* code (client disconnects and slow clients included).',
      labelNames: ['code'],
      registers,
    });
    this.#stripped = new Counter({
      name: 'llm_router_stripped_fields_total',
      help: 'Router-owned fields (kv_transfer_params, request_id) removed from client request bodies, by field.',
      labelNames: ['field'],
      registers,
    });
    this.#admissions = new Counter({
      name: 'llm_router_admission_total',
      help: 'Requests through admission (--max-concurrent-requests), by result: admitted at once, queued (then admitted), full (429 at once), timeout (429 after --queue-timeout-ms), closed (the client left while queued).',
      labelNames: ['result'],
      registers,
    });
    this.#rateLimited = new Counter({
      name: 'llm_router_rate_limited_total',
      help: 'Requests refused for a per-minute limit (429 LLMR_ERR_RATE_LIMITED), by API key name (empty: a client address without keys) and kind (requests, tokens).',
      labelNames: ['api_key', 'kind'],
      registers,
    });
    new Counter({
      name: 'llm_router_rate_limit_store_errors_total',
      help: 'Leases of the shared rate-limit counters that failed (JetStream KV unreachable); the requests passed.',
      registers,
      collect() {
        this.reset();
        this.inc(rateLimitStore.storeErrors);
      },
    });
    this.#admissionWait = new BucketHistogram({
      name: 'llm_router_admission_wait_seconds',
      help: 'Time requests spent in the admission queue, by result (queued, timeout, closed).',
      labelNames: ['result'],
      buckets: TTFT,
      registers,
    });
    new Gauge({
      name: 'llm_router_admission_in_flight',
      help: 'Requests holding an admission slot (0 when admission is off).',
      registers,
      collect() {
        this.set(admission.inFlight);
      },
    });
    new Gauge({
      name: 'llm_router_admission_queue_depth',
      help: 'Requests waiting for an admission slot.',
      registers,
      collect() {
        this.set(admission.waiting);
      },
    });
    new Gauge({
      name: 'llm_router_ingress_open_streams',
      help: 'Requests this ingress is waiting on or streaming.',
      registers,
      collect() {
        this.set(openStreams());
      },
    });
  }

  /** `apiKey`: the key's name from the operator's file (bounded), never the key. */
  request(route: string, method: string, status: number, model: string | null, apiKey: string | null, seconds: number): void {
    this.#requests.inc({ route, method, status: String(status), model: status < 400 && model ? model : '', api_key: apiKey ?? '' });
    this.#duration.series(route, `${Math.floor(status / 100)}xx`).observe(seconds);
  }

  firstByte(route: string, model: string, seconds: number): void {
    this.#ttft.series(route, model).observe(seconds);
  }

  chunkGap(route: string, model: string, seconds: number): void {
    this.#gap.series(route, model).observe(seconds);
  }

  error(code: string): void {
    this.#errors.inc({ code });
  }

  /** One admission decision; `waitedS` is observed for those that waited. */
  admission(result: 'admitted' | 'queued' | 'full' | 'timeout' | 'closed', waitedS: number): void {
    this.#admissions.inc({ result });
    if (result !== 'admitted' && result !== 'full') this.#admissionWait.series(result).observe(waitedS);
  }

  rateLimited(apiKey: string, kind: string): void {
    this.#rateLimited.inc({ api_key: apiKey, kind });
  }

  stripped(field: string): void {
    this.#stripped.inc({ field });
  }
}
