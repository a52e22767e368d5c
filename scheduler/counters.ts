// What a scheduler counts, kept in one place. The Prometheus counters of metrics.ts read these
// at scrape time, and tests and the service read them as plain numbers, so an event is counted
// once, not once per reader. Pure state.
import type { ErrorCode } from '../proto/errors.ts';
import type { Refusal } from './heartbeat-admission.ts';
import { DECISIONS, type Decision } from './pd/decider.ts';

/** The `result` label of llm_router_heartbeats_total. */
export type HeartbeatResult = 'accepted' | 'invalid' | Refusal | 'conflict';

/** The `outcome` label of llm_router_scheduler_requests_total: ok, cancelled (the client left), or the error's code. */
export type RequestOutcome = 'ok' | 'cancelled' | ErrorCode;

/** Counts by a model and one closed label; read back as sums over models. */
class ByModel<K extends string> {
  readonly #counts = new Map<string, Map<K, number>>();

  inc(model: string, key: K): void {
    let m = this.#counts.get(model);
    if (!m) {
      m = new Map();
      this.#counts.set(model, m);
    }
    m.set(key, (m.get(key) ?? 0) + 1);
  }

  /** Over every model, of the keys that `match`. */
  sum(match: (key: K) => boolean): number {
    let n = 0;
    for (const m of this.#counts.values()) for (const [k, v] of m) if (match(k)) n += v;
    return n;
  }

  *entries(): Generator<[model: string, key: K, n: number]> {
    for (const [model, m] of this.#counts) for (const [k, n] of m) yield [model, k, n];
  }
}

const isCompleted = (o: RequestOutcome): boolean => o === 'ok' || o === 'cancelled';

export class SchedulerCounters {
  #accepted = 0;
  #malformed = 0;
  #cancelled = 0;
  readonly #heartbeats = new Map<HeartbeatResult, number>();
  readonly #requests = new ByModel<RequestOutcome>();
  readonly #decisions = new ByModel<Decision>();

  /** A request was taken from the queue group and answered `accepted`. */
  countAccepted(): void {
    this.#accepted++;
  }

  /** A request with nowhere to answer, or a malformed subject or metadata. */
  countMalformed(): void {
    this.#malformed++;
  }

  /** Its ingress cancelled a request (the client left or read too slowly). */
  countCancelled(): void {
    this.#cancelled++;
  }

  countHeartbeat(result: HeartbeatResult): void {
    this.#heartbeats.set(result, (this.#heartbeats.get(result) ?? 0) + 1);
  }

  /** An accepted request is over; `model` is its metrics label. */
  countFinished(model: string, outcome: RequestOutcome): void {
    this.#requests.inc(model, outcome);
  }

  countDecision(model: string, decision: Decision): void {
    this.#decisions.inc(model, decision);
  }

  get accepted(): number {
    return this.#accepted;
  }

  get malformedRequests(): number {
    return this.#malformed;
  }

  get cancelled(): number {
    return this.#cancelled;
  }

  /** Requests answered, cancelled ones included. */
  get completed(): number {
    return this.#requests.sum(isCompleted);
  }

  /** Requests that ended with an error. */
  get failed(): number {
    return this.#requests.sum((o) => !isCompleted(o));
  }

  /** Heartbeats accepted. */
  get heartbeats(): number {
    return this.#heartbeats.get('accepted') ?? 0;
  }

  /** Heartbeats dropped: undecodable or refused. */
  get heartbeatsInvalid(): number {
    let n = 0;
    for (const [r, v] of this.#heartbeats) if (r !== 'accepted') n += v;
    return n;
  }

  /** Disaggregate-or-not decisions in P/D fleets, over every model. */
  get decisions(): Readonly<Record<Decision, number>> {
    return Object.fromEntries(DECISIONS.map((d) => [d, this.#decisions.sum((k) => k === d)])) as Record<Decision, number>;
  }

  /** Every result counted so far, for the exporter. */
  heartbeatsByResult(): Iterable<[HeartbeatResult, number]> {
    return this.#heartbeats.entries();
  }

  requestsByOutcome(): Iterable<[model: string, outcome: RequestOutcome, n: number]> {
    return this.#requests.entries();
  }

  decisionsByModel(): Iterable<[model: string, decision: Decision, n: number]> {
    return this.#decisions.entries();
  }
}
