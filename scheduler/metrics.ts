// The scheduler's Prometheus metrics (prom-client): what dispatch reports as it works, and the
// fleet as the registry sees it, read at scrape time. The scheduler's event counts are kept once,
// in SchedulerCounters, and read at scrape time too. Every name is documented in the README. The
// histograms are bucket arrays (runtime/bucket-histogram.ts): the gaps between a stream's chunks
// are observed per chunk.
import { Counter, Gauge, Registry } from 'prom-client';
import { BucketHistogram } from '../runtime/bucket-histogram.ts';
import type { Leg } from './attempt.ts';
import { BREAKER_STATES, type CircuitBreakers } from './circuit-breaker.ts';
import type { OutboxStats } from './outbox.ts';
import type { HeldResult } from './shedder.ts';
import { SchedulerCounters } from './counters.ts';
import type { DispatchEvents } from './events.ts';
import type { InflightTracker } from './inflight.ts';
import type { Decision } from './pd/decider.ts';
import type { Pool, Registry as FleetRegistry } from './registry.ts';

/** Buckets fit for LLM latencies: milliseconds for tokens, seconds to minutes for requests. */
export const BUCKETS = {
  ttft: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3, 6, 12, 30, 60, 120],
  itl: [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2.5],
  request: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600],
} as const;

export interface SchedulerMetricsDeps {
  readonly schedulerId: string;
  readonly fleet: FleetRegistry;
  readonly breakers: CircuitBreakers;
  readonly inflight: InflightTracker;
  /** What the stream outboxes published (scheduler/outbox.ts). */
  readonly outboxes: { readonly stats: Readonly<OutboxStats> };
  /** Requests held while their model's workers are saturated (shedder.ts). */
  readonly held?: () => number;
}

export class SchedulerMetrics implements DispatchEvents {
  readonly registry = new Registry();
  readonly counters = new SchedulerCounters();
  readonly #upstream;
  readonly #upstreamSeconds;
  readonly #picks;
  readonly #retries;
  readonly #retriesDenied;
  readonly #heldTotal;
  readonly #heldSeconds;
  readonly #legs;
  readonly #ttft;
  readonly #itl;
  readonly #tokens;
  readonly #requestSeconds;

  constructor(d: SchedulerMetricsDeps) {
    const registers = [this.registry];
    const counters = this.counters;
    this.registry.setDefaultLabels({ scheduler: d.schedulerId });
    new Counter({
      name: 'llm_router_scheduler_requests_total',
      help: 'Requests a scheduler accepted, by model and outcome (ok, error code).',
      labelNames: ['model', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const [model, outcome, n] of counters.requestsByOutcome()) this.inc({ model, outcome }, n);
      },
    });
    this.#requestSeconds = new BucketHistogram({
      name: 'llm_router_scheduler_request_duration_seconds',
      help: 'From accepting a request to the end of its answer.',
      labelNames: ['model'],
      buckets: BUCKETS.request,
      registers,
    });
    this.#upstream = new Counter({
      name: 'llm_router_upstream_responses_total',
      help: 'Worker calls by worker, leg (whole, prefill, decode) and status (or "error" for connection failures and timeouts).',
      labelNames: ['worker', 'leg', 'status'],
      registers,
    });
    this.#upstreamSeconds = new BucketHistogram({
      name: 'llm_router_upstream_response_seconds',
      help: 'From calling a worker to its status line (for a stream: its first token).',
      labelNames: ['leg'],
      buckets: BUCKETS.ttft,
      registers,
    });
    this.#picks = new Counter({
      name: 'llm_router_policy_picks_total',
      help: 'Workers chosen, by pool (whole, prefill, decode), policy and worker.',
      labelNames: ['pool', 'policy', 'worker'],
      registers,
    });
    this.#retries = new Counter({ name: 'llm_router_retries_total', help: 'Attempts retried on another worker, by model and reason.', labelNames: ['model', 'reason'], registers });
    this.#retriesDenied = new Counter({
      name: 'llm_router_retries_denied_total',
      help: 'Failed attempts not retried, by model and reason: the retry budget was spent, or (reason fleet_saturated) a 429 or 503 came while every worker of the model was saturated. The failure was the answer.',
      labelNames: ['model', 'reason'],
      registers,
    });
    new Counter({
      name: 'llm_router_pd_decisions_total',
      help: 'Disaggregate-or-not decisions in P/D fleets, by model and decision.',
      labelNames: ['model', 'decision'],
      registers,
      collect() {
        this.reset();
        for (const [model, decision, n] of counters.decisionsByModel()) this.inc({ model, decision }, n);
      },
    });
    this.#legs = new BucketHistogram({
      name: 'llm_router_pd_leg_seconds',
      help: 'P/D legs: prefill to its answer (KV ready), decode to its status line.',
      labelNames: ['leg'],
      buckets: BUCKETS.ttft,
      registers,
    });
    this.#ttft = new BucketHistogram({
      name: 'llm_router_upstream_ttft_seconds',
      help: 'From calling a worker to its first body chunk (time to first token for streams).',
      labelNames: ['model'],
      buckets: BUCKETS.ttft,
      registers,
    });
    this.#itl = new BucketHistogram({
      name: 'llm_router_upstream_itl_seconds',
      help: 'Between body chunks of a streamed answer (inter-token latency as the router receives it).',
      labelNames: ['model'],
      buckets: BUCKETS.itl,
      registers,
    });
    this.#tokens = new Counter({
      name: 'llm_router_tokens_total',
      help: "Tokens in answers, by model and kind (prompt, completion), from the answers' usage or their streamed events.",
      labelNames: ['model', 'kind'],
      registers,
    });
    new Counter({
      name: 'llm_router_heartbeats_total',
      help: 'Heartbeats received, by result: accepted, invalid (undecodable), or refused: subject_mismatch, future (sentAt beyond the clock skew), interval (above the bound), not_allowed (outside --worker-allow), conflict (a live worker id from another agent or at another URL).',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        for (const [result, n] of counters.heartbeatsByResult()) this.inc({ result }, n);
      },
    });
    const bundles = d.outboxes.stats;
    new Counter({
      name: 'llm_router_stream_bundles_total',
      help: 'Bundles of stream frames published to ingresses (sent), or lost with a closed connection (failed).',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        this.inc({ result: 'sent' }, bundles.bundles);
        this.inc({ result: 'failed' }, bundles.failed);
      },
    });
    new Counter({
      name: 'llm_router_stream_frames_total',
      help: 'Stream frames published in bundles; divided by llm_router_stream_bundles_total, the frames each NATS message carried.',
      registers,
      collect() {
        this.reset();
        this.inc(bundles.frames);
      },
    });
    new Counter({
      name: 'llm_router_cancels_total',
      help: 'Requests cancelled by their ingress (the client left or read too slowly).',
      registers,
      collect() {
        this.reset();
        this.inc(counters.cancelled);
      },
    });

    this.#heldTotal = new Counter({
      name: 'llm_router_held_total',
      help: 'Requests held because every worker of their model was saturated, by how the hold ended: released (dispatched), full (503 at once), timeout (503 after --shed-queue-timeout-ms), cancelled (the client left).',
      labelNames: ['result'],
      registers,
    });
    this.#heldSeconds = new BucketHistogram({
      name: 'llm_router_held_seconds',
      help: 'How long requests were held, by how the hold ended.',
      labelNames: ['result'],
      buckets: BUCKETS.request,
      registers,
    });
    const held = d.held ?? (() => 0);
    new Gauge({
      name: 'llm_router_held_requests',
      help: 'Requests held now because every worker of their model is saturated.',
      registers,
      collect() {
        this.set(held());
      },
    });
    new Gauge({
      name: 'llm_router_inflight_requests',
      help: 'Requests in flight per worker, from this scheduler (scope="local") and from every replica (scope="all").',
      labelNames: ['worker', 'scope'],
      registers,
      collect() {
        this.reset();
        for (const w of d.fleet.all()) {
          this.set({ worker: w.id, scope: 'local' }, d.inflight.local(w.id));
          this.set({ worker: w.id, scope: 'all' }, d.inflight.total(w.id));
        }
      },
    });
    new Gauge({
      name: 'llm_router_inflight_tokens',
      help: 'Tokens of the requests in flight per worker, from every replica: prompt tokens still to compute (phase="prefill") and KV held while decoding (phase="decode"). The load least_load balances.',
      labelNames: ['worker', 'phase'],
      registers,
      collect() {
        this.reset();
        for (const w of d.fleet.all()) {
          const t = d.inflight.tokens(w.id);
          this.set({ worker: w.id, phase: 'prefill' }, t.prefill);
          this.set({ worker: w.id, phase: 'decode' }, t.decode);
        }
      },
    });
    new Gauge({
      name: 'llm_router_worker_info',
      help: 'One series per known worker with its role, state (ready, draining, unhealthy), region and connector; value 1.',
      labelNames: ['worker', 'role', 'state', 'region', 'connector'],
      registers,
      collect() {
        this.reset();
        for (const w of d.fleet.all()) this.set({ worker: w.id, role: w.role, state: w.state, region: w.region, connector: w.connector.kind }, 1);
      },
    });
    new Gauge({
      name: 'llm_router_worker_load',
      help: "A worker's reported load: running and waiting requests.",
      labelNames: ['worker', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const w of d.fleet.all()) {
          this.set({ worker: w.id, kind: 'running' }, w.load.running);
          this.set({ worker: w.id, kind: 'waiting' }, w.load.waiting);
        }
      },
    });
    new Gauge({
      name: 'llm_router_worker_kv_usage_ratio',
      help: "A worker's reported KV-cache usage (0–1).",
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of d.fleet.all()) this.set({ worker: w.id }, w.load.kvUsage);
      },
    });
    new Gauge({
      name: 'llm_router_workers',
      help: 'Known workers by state.',
      labelNames: ['state'],
      registers,
      collect() {
        const n = { ready: 0, draining: 0, unhealthy: 0 };
        for (const w of d.fleet.all()) n[w.state]++;
        for (const [state, v] of Object.entries(n)) this.set({ state }, v);
      },
    });
    new Gauge({
      name: 'llm_router_circuit_breaker_state',
      help: 'Circuit breaker per worker: 0 closed, 1 open, 2 half-open.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of d.fleet.all()) this.set({ worker: w.id }, BREAKER_STATES.indexOf(d.breakers.state(w.id)));
      },
    });
    const transitions = new Counter({ name: 'llm_router_circuit_breaker_transitions_total', help: 'Circuit breaker state changes, by worker and new state.', labelNames: ['worker', 'to'], registers });
    const previous = d.breakers.onTransition;
    d.breakers.onTransition = (worker, from, to) => {
      transitions.inc({ worker, to });
      previous?.(worker, from, to);
    };
    new Gauge({
      name: 'llm_router_scheduler_peers',
      help: 'Other scheduler replicas heard from on llm.v1.sched.sync.',
      registers,
      collect() {
        this.set(d.inflight.peers().length);
      },
    });
  }

  /** A request ended, `seconds` after it was accepted (`model`: a known model or `_unknown`). */
  requestDone(model: string, seconds: number): void {
    this.#requestSeconds.series(model).observe(seconds);
  }

  upstream(workerId: string, leg: Leg, status: number | 'error', seconds: number): void {
    this.#upstream.inc({ worker: workerId, leg, status: String(status) });
    if (status !== 'error') this.#upstreamSeconds.series(leg).observe(seconds);
  }

  pick(pool: Pool, policy: string, workerId: string): void {
    this.#picks.inc({ pool, policy, worker: workerId });
  }

  retry(model: string, reason: string): void {
    this.#retries.inc({ model, reason });
  }

  held(result: HeldResult, waitedS: number): void {
    this.#heldTotal.inc({ result });
    if (result !== 'full') this.#heldSeconds.series(result).observe(waitedS);
  }

  retryDenied(model: string, reason: string): void {
    this.#retriesDenied.inc({ model, reason });
  }

  decision(model: string, decision: Decision): void {
    this.counters.countDecision(model, decision);
  }

  leg(leg: 'prefill' | 'decode', seconds: number): void {
    this.#legs.series(leg).observe(seconds);
  }

  firstChunk(model: string, seconds: number): void {
    this.#ttft.series(model).observe(seconds);
  }

  interChunk(model: string, seconds: number): void {
    this.#itl.series(model).observe(seconds);
  }

  tokens(model: string, prompt: number, completion: number): void {
    if (prompt > 0) this.#tokens.inc({ model, kind: 'prompt' }, prompt);
    if (completion > 0) this.#tokens.inc({ model, kind: 'completion' }, completion);
  }
}
