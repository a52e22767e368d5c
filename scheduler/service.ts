// The scheduler process's I/O shell: subscriptions (requests in the `sched` queue group,
// heartbeats, cancels, replica sync, fleet info), timers (worker expiry, sync), and one
// dispatch per accepted request. The decisions live in the pure modules it wires together.
import { RequestError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import { errors } from '../proto/errors.ts';
import { decodeDrain, encodeDrain, encodeDrainAck, encodeSchedulerReport, encodeWorkersReply, type DrainCommand, type SchedulerReport, type WorkersReply } from '../proto/admin.ts';
import { decodeHeartbeat } from '../proto/heartbeat.ts';
import { decodeRequestMeta } from '../proto/request-meta.ts';
import { encodeSchedulerInfo } from '../proto/scheduler-info.ts';
import { decodeSyncMessage, encodeSyncMessage } from '../proto/sched-sync.ts';
import { ingressOfCancelSubject, modelOfRequestSubject, parseHeartbeatSubject, parseResponseSubject, PROBE_TOKEN, SCHEDULER_QUEUE, subjects } from '../proto/subjects.ts';
import { headerGetter } from '../runtime/nats.ts';
import { dispatch } from './dispatch.ts';
import { admitHeartbeat, type Refusal } from './heartbeat-admission.ts';
import { RefusalLog } from '../runtime/refusal-log.ts';
import { InflightTracker } from './inflight.ts';
import { RetryBudget } from './retry-budget.ts';
import { Saturation } from './saturation.ts';
import { DecisionRecorder } from './decision-record.ts';
import type { AuditPublisher } from '../audit/publisher.ts';
import { startAuditPublisher } from '../audit/metrics.ts';
import { ensureAuditStream } from '../audit/stream.ts';
import { Shedder } from './shedder.ts';
import { CandidateCache } from './candidate-cache.ts';
import type { RequestOutcome, SchedulerCounters } from './counters.ts';
import type { SchedulerOptions } from './options.ts';
import { PolicySet } from './policy-set.ts';
import { PrefixIndex } from './prefix-index.ts';
import { CircuitBreakers } from './circuit-breaker.ts';
import { SchedulerMetrics } from './metrics.ts';
import { registerNatsMetrics } from '../runtime/nats-metrics.ts';
import { BusState } from '../runtime/bus-state.ts';
import { Registry, type WorkerView } from './registry.ts';
import { Outboxes } from './outbox.ts';
import { createAgent } from './upstream.ts';

export type { SchedulerOptions } from './options.ts';

/** A subscription callback that ignores subscription errors (they surface as connection status). */
function on(fn: (msg: Msg) => void): (err: Error | null, msg: Msg) => void {
  return (err, msg) => {
    if (!err) fn(msg);
  };
}

export class Scheduler {
  readonly options: Readonly<SchedulerOptions>;
  readonly registry: Registry;
  readonly inflight: InflightTracker;
  readonly #candidates: CandidateCache;
  /** One budget for every model this replica serves: an error burst anywhere spends it. */
  readonly #retryBudget: RetryBudget | null;
  /** Null with options.shed null: nothing is ever held, and no worker's saturation is followed. */
  readonly #saturation: Saturation | null;
  readonly #shedder: Shedder | null;
  /** What dispatch asks before retrying a 429/503 (absent without shedding), made once. */
  readonly #saturated: ((model: string) => boolean) | undefined;
  /** Decision records (null with audit off). */
  #audit: AuditPublisher | null = null;
  readonly policies: PolicySet;
  /** What this replica counted (requests, heartbeats, cancels, P/D decisions); its metrics read the same. */
  readonly counters: SchedulerCounters;
  readonly metrics: SchedulerMetrics;
  readonly prefix = new PrefixIndex();
  readonly breakers: CircuitBreakers;
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #agent: Agent;
  /** streamId → the request's abort handle and the ingress waiting for it. */
  readonly #active = new Map<string, { controller: AbortController; ingressId: string }>();
  readonly #subs: Subscription[] = [];
  readonly #timers: NodeJS.Timeout[] = [];
  #draining = false;
  readonly #startedAt = Date.now();
  readonly #bus: BusState;
  /** Refused heartbeats are logged once per worker and reason a minute: a forger must not flood the log. */
  readonly #refusalLog = new RefusalLog(60_000, 1000);
  /** One bundling outbox per ingress: the frames of all its streams travel together. */
  readonly outboxes: Outboxes;

  /** `options` as validateSchedulerOptions (options.ts) returns them. */
  constructor(nc: NatsConnection, options: Readonly<SchedulerOptions>, log: Logger) {
    this.options = options;
    this.#nc = nc;
    this.#log = log;
    this.registry = new Registry({ now: () => Date.now(), missedBeats: options.missedBeats });
    this.inflight = new InflightTracker(options.id, () => Date.now(), Math.max(3 * options.syncFullIntervalMs, 1000));
    this.#candidates = new CandidateCache(this.inflight, this.registry);
    this.#retryBudget = options.retryBudget ? new RetryBudget(options.retryBudget) : null;
    if (options.shed) {
      const saturation = new Saturation(
        options.shed,
        (id) => this.inflight.total(id),
        (id) => this.inflight.tokens(id).prefill,
      );
      const shedder = new Shedder(options.shed, { saturation, workersOf: (model) => this.#roomDecidingWorkers(model), events: { held: (result, waitedS) => this.metrics.held(result, waitedS) } });
      this.#saturation = saturation;
      this.#shedder = shedder;
      this.#saturated = (model) => shedder.saturated(model);
    } else {
      this.#saturation = null;
      this.#shedder = null;
      this.#saturated = undefined;
    }
    this.policies = new PolicySet(options);
    // Disabled = a threshold no worker reaches.
    this.breakers = new CircuitBreakers(options.breaker ?? { failureThreshold: Number.MAX_SAFE_INTEGER, successThreshold: 1, cooldownMs: 0 }, () => Date.now());
    this.breakers.onTransition = (workerId, from, to) => this.#log.warn({ workerId, from, to }, `circuit breaker ${to}`);
    this.outboxes = new Outboxes(nc, options.id, { lingerMs: options.bundleLingerMs });
    this.metrics = new SchedulerMetrics({
      schedulerId: options.id,
      fleet: this.registry,
      breakers: this.breakers,
      inflight: this.inflight,
      outboxes: this.outboxes,
      held: () => this.#shedder?.held ?? 0,
    });
    this.counters = this.metrics.counters;
    registerNatsMetrics(this.metrics.registry, nc);
    // A bus outage silences every heartbeat at once: that is not the workers dying. Expiry waits
    // while we are cut off, and the clock restarts for everyone when we are back (with a ping,
    // so that agents answer at once).
    this.#bus = BusState.of(nc);
    this.#bus.onUp(() => {
      this.registry.touchAll();
      try {
        nc.publish(subjects.heartbeatPing);
      } catch {
        // the next beat will do
      }
    });
    this.#agent = createAgent(options.upstream);
  }

  /**
   * The workers whose saturation decides whether a request of `model` is held: those that hold a
   * request's sequence for its whole life (decode-capable ones in a P/D fleet), breakers allowing.
   */
  #roomDecidingWorkers(model: string): readonly WorkerView[] {
    const all = this.registry.candidates(model, this.#servingPool(model));
    const open = this.breakers.notClosed();
    return open.size === 0 ? all : all.filter((w) => this.breakers.allows(w.id));
  }

  /** The pool that holds a request's sequence for its whole life: decode in a P/D fleet, else whole. */
  #servingPool(model: string): 'decode' | 'whole' {
    return this.registry.hasDisaggregatedRoles(model) ? 'decode' : 'whole';
  }

  get activeRequests(): number {
    return this.#active.size;
  }

  async start(): Promise<void> {
    const nc = this.#nc;
    this.#subs.push(nc.subscribe(subjects.heartbeatAll, { callback: on((msg) => this.#onHeartbeat(msg)) }));
    this.#subs.push(nc.subscribe(subjects.schedSync, { callback: on((msg) => this.#onSync(msg)) }));
    this.#subs.push(nc.subscribe(subjects.cancelAll(this.options.id), { callback: on((msg) => this.#onCancel(msg)) }));
    this.#subs.push(nc.subscribe(subjects.schedInfo, { queue: SCHEDULER_QUEUE, callback: on((msg) => this.#onInfo(msg)) }));
    // The fleet API: every replica answers (no queue group), so the ingress hears them all.
    this.#subs.push(nc.subscribe(subjects.adminWorkers, { callback: on((msg) => msg.respond(encodeWorkersReply(this.workersReport()))) }));
    this.#subs.push(nc.subscribe(subjects.adminSchedulers, { callback: on((msg) => msg.respond(encodeSchedulerReport(this.selfReport()))) }));
    this.#subs.push(nc.subscribe(subjects.adminDrain, { callback: on((msg) => this.#onDrain(msg)) }));
    // Make sure heartbeats and sync are registered with the server before asking agents to beat.
    await nc.flush();
    nc.publish(subjects.heartbeatPing);
    if (this.options.audit.mode !== 'off') await this.#startAudit();
    // Learn the fleet before taking requests: agents answer the ping at once, and until they
    // have, this replica would answer "unknown model" (other replicas take the traffic meanwhile).
    const learnUntil = Date.now() + this.options.startupGraceMs;
    while (this.registry.size === 0 && Date.now() < learnUntil) await new Promise((r) => setTimeout(r, 20));
    this.#subs.push(nc.subscribe(subjects.requestAll, { queue: SCHEDULER_QUEUE, callback: on((msg) => this.#onRequest(msg)) }));
    await nc.flush();
    this.#timers.push(
      setInterval(() => {
        for (const id of this.#bus.up ? this.registry.expire() : []) {
          this.prefix.forget(id);
          this.breakers.forget(id);
          this.#saturation?.forget(id);
          this.#log.warn({ workerId: id }, 'worker dropped: heartbeats stopped');
        }
        this.inflight.expire();
        this.outboxes.sweep();
      }, this.options.expiryIntervalMs),
      setInterval(() => this.#publishSync(false), this.options.syncIntervalMs),
      setInterval(() => this.#publishSync(true), this.options.syncFullIntervalMs),
      setInterval(() => void this.#probeIngresses(), this.options.probeIntervalMs),
    );
    this.#log.info({ region: this.options.region }, 'scheduler started');
  }

  /** Creates (or checks) LLM_AUDIT with this scheduler's limits, then starts publishing decision records. */
  async #startAudit(): Promise<void> {
    const { mode, ...limits } = this.options.audit;
    if (mode === 'off') return;
    try {
      await ensureAuditStream(this.#nc, limits, { create: true, log: this.#log });
    } catch (e) {
      // best effort: records are dropped until the stream is there; required: the ingress refuses meanwhile.
      this.#log.error({ err: (e as Error).message, mode }, 'audit stream not ready');
    }
    this.#audit = startAuditPublisher(this.#nc, { mode, region: this.options.region, source: 'scheduler' }, this.#log, this.metrics.registry);
  }

  /** Stops taking requests, lets the ones in flight finish (up to `graceMs`), then closes. */
  async stop(graceMs = this.options.shutdownGraceMs): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const requestSub = this.#subs.pop();
    await requestSub?.drain().catch(() => undefined);
    const deadline = Date.now() + graceMs;
    while (this.#active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    this.#shedder?.stop();
    for (const a of this.#active.values()) a.controller.abort();
    for (const t of this.#timers) clearInterval(t);
    for (const s of this.#subs) s.unsubscribe();
    this.outboxes.flushAll();
    this.#publishSync(true);
    await this.#audit?.drain(2000);
    await this.#nc.flush().catch(() => undefined);
    await this.#agent.close().catch(() => undefined);
  }

  workersReport(): WorkersReply {
    const now = Date.now();
    return {
      scheduler: this.options.id,
      workers: this.registry.all().map((w) => ({
        id: w.id,
        url: w.url,
        region: w.region,
        models: [...w.models],
        role: w.role,
        state: this.registry.isAdminDrained(w.id) ? 'draining' : w.state,
        adminDrained: this.registry.isAdminDrained(w.id),
        load: { ...w.load },
        breaker: this.breakers.state(w.id),
        inflight: { local: this.inflight.local(w.id), all: this.inflight.total(w.id) },
        lastSeenMsAgo: now - w.lastSeen,
      })),
    };
  }

  selfReport(): SchedulerReport {
    return {
      id: this.options.id,
      region: this.options.region,
      activeRequests: this.#active.size,
      workers: this.registry.size,
      peers: this.inflight.peers(),
      uptimeS: Math.round((Date.now() - this.#startedAt) / 1000),
      policy: this.options.policy,
    };
  }

  /** An operator drains or undrains a worker: stop (or resume) sending it work, and tell its agent. */
  #onDrain(msg: Msg): void {
    let cmd: DrainCommand | null = null;
    try {
      cmd = decodeDrain(msg.json());
    } catch {
      cmd = null;
    }
    if (!cmd) {
      if (msg.reply) msg.respond(encodeDrainAck({ scheduler: this.options.id, ok: false, error: 'malformed drain command' }));
      return;
    }
    const worker = this.registry.get(cmd.workerId);
    const known = worker !== undefined;
    if (known || !cmd.drain) this.registry.setAdminDrained(cmd.workerId, cmd.drain);
    this.#log.warn({ workerId: cmd.workerId, drain: cmd.drain, known }, cmd.drain ? 'worker drained by an operator' : 'worker undrained by an operator');
    try {
      // Only the agent that speaks for the worker hears it (each agent reads only its own subject).
      if (worker) this.#nc.publish(subjects.agentDrain(worker.agent), encodeDrain(cmd));
    } catch {
      // the agent hears it from the next replica, or the operator retries
    }
    if (msg.reply) msg.respond(encodeDrainAck({ scheduler: this.options.id, ok: true, known }));
  }

  #onHeartbeat(msg: Msg): void {
    const from = parseHeartbeatSubject(msg.subject);
    const hb = decodeHeartbeat(msg.data);
    if (!hb.ok || from === null) {
      this.counters.countHeartbeat('invalid');
      this.#log.debug({ subject: msg.subject, reason: hb.ok ? 'malformed subject' : hb.reason }, 'invalid heartbeat dropped');
      return;
    }
    // The subject's agent token is what the bus vouches for (each agent may publish only under
    // its own); the payload must agree with it and stay within what an honest agent needs.
    const admitted = admitHeartbeat(hb.value, from, Date.now(), this.options.heartbeat);
    if (!admitted.ok) {
      this.#refuseHeartbeat(from, admitted.result, admitted.reason);
      return;
    }
    const was = this.registry.get(hb.value.id)?.state;
    const r = this.registry.upsert(hb.value);
    if (r === 'conflict') {
      const bound = this.registry.get(hb.value.id)!;
      this.#refuseHeartbeat(from, 'conflict', `worker is bound to agent ${bound.agent} at ${bound.url}; this beat names agent ${hb.value.agent} at ${hb.value.url}`);
      return;
    }
    this.counters.countHeartbeat('accepted');
    this.#saturation?.beat(hb.value.id);
    if (this.#shedder && this.#shedder.held > 0) for (const m of hb.value.models) this.#shedder.pump(m);
    // A worker that fails its health checks is restarting or gone, and a restarted vLLM has an
    // empty prefix cache: what the index remembers of it would only steer prompts to misses.
    if (r === 'updated' && hb.value.state === 'unhealthy' && was !== 'unhealthy') this.prefix.forget(hb.value.id);
    if (r === 'added') this.#log.info({ workerId: hb.value.id, agent: hb.value.agent, url: hb.value.url, role: hb.value.role, models: hb.value.models }, 'worker joined');
  }

  #refuseHeartbeat(from: { agent: string; worker: string }, result: Refusal | 'conflict', reason: string): void {
    this.counters.countHeartbeat(result);
    const d = this.#refusalLog.note(result, `${from.agent}/${from.worker}`, Date.now());
    if (d.log) this.#log.warn({ workerId: from.worker, agent: from.agent, result, reason, suppressed: d.suppressed }, 'heartbeat refused');
  }

  #onSync(msg: Msg): void {
    const m = decodeSyncMessage(msg.data);
    if (m) this.inflight.apply(m);
  }

  #publishSync(full: boolean): void {
    if (!full && !this.inflight.hasChanges) return;
    try {
      this.#nc.publish(subjects.schedSync, encodeSyncMessage(this.inflight.snapshot(full)));
    } catch {
      // disconnected: the next full snapshot repairs the peers' view
    }
  }

  /**
   * A cancel names a stream id; an empty one with a reply subject is an ingress checking that we
   * live. Its subject names the ingress (pinned by the bus), which may cancel only its own streams.
   */
  #onCancel(msg: Msg): void {
    const id = msg.string();
    const a = id ? this.#active.get(id) : undefined;
    if (a && a.ingressId === ingressOfCancelSubject(msg.subject)) {
      this.counters.countCancelled();
      a.controller.abort();
    }
    if (msg.reply) msg.respond();
  }

  /**
   * Core NATS says nothing when the subscriber of a reply subject dies, so every few seconds each
   * ingress with streams here is asked to answer on its own response subjects; "no responders"
   * means it is gone, and its upstream calls are aborted so that workers free the sequences.
   */
  async #probeIngresses(): Promise<void> {
    const ingresses = new Set<string>();
    for (const a of this.#active.values()) ingresses.add(a.ingressId);
    await Promise.all(
      [...ingresses].map(async (ingressId) => {
        try {
          await this.#nc.request(subjects.response(ingressId, PROBE_TOKEN), undefined, { timeout: this.options.probeIntervalMs });
        } catch (e) {
          if (!(e instanceof RequestError && e.isNoResponders())) return; // a timeout is not proof of death
          let n = 0;
          for (const a of this.#active.values()) {
            if (a.ingressId !== ingressId) continue;
            a.controller.abort();
            n++;
          }
          this.#log.warn({ ingressId, aborted: n }, 'ingress is gone: aborted its requests');
        }
      }),
    );
  }

  #onInfo(msg: Msg): void {
    const models = [...this.registry.models()].map(([id, workers]) => ({ id, workers }));
    const ready = this.registry.all().filter((w) => w.state === 'ready').length;
    msg.respond(encodeSchedulerInfo({ scheduler: this.options.id, models, readyWorkers: ready, workers: this.registry.size, peers: this.inflight.peers() }));
  }

  #onRequest(msg: Msg): void {
    const reply = msg.reply ? parseResponseSubject(msg.reply) : null;
    if (!msg.reply || !reply) {
      this.counters.countMalformed();
      return; // nowhere to answer
    }
    const { ingressId, streamId } = reply;
    const out = this.outboxes.writer(ingressId, streamId);
    const model = modelOfRequestSubject(msg.subject);
    const meta = decodeRequestMeta(headerGetter(msg.headers));
    out.accepted();
    if (model === null || !meta.ok) {
      this.counters.countMalformed();
      out.error(errors.LLMR_ERR_INVALID_REQUEST(meta.ok ? 'malformed request subject' : meta.reason));
      return;
    }
    this.counters.countAccepted();
    // Client-chosen model names are only labels once the fleet knows them (bounded cardinality).
    const label = (): string => (this.registry.knows(model) ? model : '_unknown');
    const started = performance.now();
    const controller = new AbortController();
    this.#active.set(streamId, { controller, ingressId });
    const deadline = meta.value.deadline;
    const timer =
      deadline !== null
        ? setTimeout(
            () => {
              out.fail(errors.LLMR_ERR_DEADLINE(new Date(deadline).toISOString()));
              controller.abort();
            },
            Math.max(0, deadline - Date.now()),
          )
        : null;
    const finish = (): void => {
      if (timer) clearTimeout(timer);
      this.#active.delete(streamId);
      this.#shedder?.pump(model);
    };
    const auditId = this.#audit ? meta.value.auditId : null;
    const recorder = auditId !== null ? new DecisionRecorder(this.metrics) : null;
    let startedAt = 0;
    const start = (): void => {
      startedAt = performance.now();
      dispatch(
        {
          registry: this.registry,
          candidates: this.#candidates,
          inflight: this.inflight,
          breakers: this.breakers,
          policies: this.policies,
          agent: this.#agent,
          upstream: this.options.upstream,
          retry: this.options.retry,
          retryBudget: this.#retryBudget,
          random: Math.random,
          log: this.#log,
          retryAfterS: this.options.retryAfterS,
          prefix: this.prefix,
          pd: this.options.pd,
          events: recorder ?? this.metrics,
          saturated: this.#saturated,
        },
        { model, meta: meta.value, body: msg.data, signal: controller.signal, workerRequestId: streamId },
        out,
      )
        .then((o) => {
          const outcome: RequestOutcome = o.error ? o.error.code : o.status === null ? 'cancelled' : 'ok';
          const modelLabel = label();
          this.counters.countFinished(modelLabel, outcome);
          this.metrics.requestDone(modelLabel, (performance.now() - started) / 1000);
          const line = { reqId: meta.value.requestId, model, workerId: o.worker, status: o.status, attempts: o.attempts, decision: o.decision, outcome };
          if (recorder && auditId !== null) {
            this.#audit?.record(
              recorder.record({
                id: auditId,
                requestId: meta.value.requestId,
                region: this.options.region,
                scheduler: this.options.id,
                model,
                candidates: this.registry.candidates(model, this.#servingPool(model)).length,
                heldMs: Math.max(0, startedAt - started),
                outcome,
                worker: o.worker,
                at: Date.now(),
              }),
            );
          }
          if (o.error) this.#log.info(line, 'request failed');
          else this.#log.debug(line, 'request done');
        })
        .catch((e: unknown) => {
          this.counters.countFinished(label(), 'LLMR_ERR_INTERNAL');
          this.#log.error({ err: e, reqId: meta.value.requestId }, 'dispatch failed');
          out.fail(errors.LLMR_ERR_INTERNAL(String(e)));
        })
        .finally(finish);
    };
    const held = this.#shedder?.admit(
      {
        model,
        priority: meta.value.priority,
        start,
        end: (e) => {
          this.counters.countFinished(label(), e ? e.code : 'cancelled');
          if (e) out.error(e);
          finish();
        },
      },
      controller.signal,
    );
    if (!held) start();
  }
}
