// Scheduler options: one defaults object, validated once, frozen (as ingress/options.ts). The
// pure modules keep the defaults of their own settings (retry, breaker, P/D, heartbeat limits)
// next to their meaning; this object puts them together with the process's own numbers, so that
// the CLI, the tests and the service read each number from one place.
import { isSubjectId } from '../proto/subjects.ts';
import { AllowList } from '../runtime/address-allow.ts';
import { BREAKER_DEFAULTS, type BreakerOptions } from './circuit-breaker.ts';
import { HEARTBEAT_LIMIT_DEFAULTS, type HeartbeatLimits } from './heartbeat-admission.ts';
import { PD_DEFAULTS, type PdConfig } from './pd/config.ts';
import { isPolicyType, POLICY_TYPES, type PolicyType } from './policies/index.ts';
import type { PolicyConfig } from './policy-set.ts';
import { RETRY_DEFAULTS, type RetryOptions } from './retry.ts';
import { RETRY_BUDGET_DEFAULTS, type RetryBudgetOptions } from './retry-budget.ts';
import type { SaturationLimits } from './saturation.ts';
import { AUDIT_MODES, type AuditMode } from '../audit/publisher.ts';
import { AUDIT_STREAM_DEFAULTS, type AuditStreamLimits } from '../audit/stream.ts';
import type { UpstreamOptions } from './upstream.ts';

export interface SchedulerOptions extends PolicyConfig {
  readonly id: string;
  readonly region: string;
  readonly upstream: UpstreamOptions;
  readonly retry: RetryOptions;
  /** Retries as a share of requests over a rolling window (retry-budget.ts); null: no budget. */
  readonly retryBudget: RetryBudgetOptions | null;
  /**
   * Holding requests while every worker of their model is saturated (saturation.ts,
   * held-queue.ts) instead of piling them onto vLLM's queues; null: never held.
   */
  readonly shed: ShedOptions | null;
  /** Decision records into LLM_AUDIT (the scheduler creates the stream with these limits); mode off: none. */
  readonly audit: { readonly mode: AuditMode } & AuditStreamLimits;
  /** Heartbeat intervals without news before a worker is dropped. */
  readonly missedBeats: number;
  /** How often changed in-flight counts go to the other replicas, and how often all of them do. */
  readonly syncIntervalMs: number;
  readonly syncFullIntervalMs: number;
  /** The Retry-After of a 503 when no worker is available. */
  readonly retryAfterS: number;
  readonly pd: PdConfig;
  /** Null disables the breakers. */
  readonly breaker: BreakerOptions | null;
  /** At start, how long to wait for the first heartbeats before taking requests. */
  readonly startupGraceMs: number;
  /** What a heartbeat may claim (clock skew, interval, worker networks). */
  readonly heartbeat: HeartbeatLimits;
  /** How often ingresses with streams here are probed for life; a probe waits at most this long. */
  readonly probeIntervalMs: number;
  /** How often silent workers and replicas are looked for (they are dropped after `missedBeats`). */
  readonly expiryIntervalMs: number;
  /** On stop, how long requests in flight may take to finish. */
  readonly shutdownGraceMs: number;
  /**
   * After publishing a bundle of frames to an ingress, how long the next one to the same ingress
   * may wait for more frames (scheduler/outbox.ts). 0: every turn of the event loop publishes.
   */
  readonly bundleLingerMs: number;
}

export interface ShedOptions extends SaturationLimits {
  /** Requests held at most (every model together); past it, 503 at once. */
  readonly queueSize: number;
  /** Longest hold; then 503. */
  readonly queueTimeoutMs: number;
}

export const SCHEDULER_DEFAULTS = deepFreeze({
  region: 'default',
  policy: 'power_of_two' as PolicyType,
  upstream: {
    connectTimeoutMs: 5000,
    headersTimeoutMs: 600_000,
    bodyTimeoutMs: 300_000,
    workerApiKey: null,
    keepAliveTimeoutMs: 30_000,
    keepAliveMaxTimeoutMs: 600_000,
    maxBufferedBytes: 64 * 1024 * 1024,
    discardLimitBytes: 128 * 1024,
  },
  retry: RETRY_DEFAULTS,
  retryBudget: RETRY_BUDGET_DEFAULTS,
  // llm-d's saturation detector counts a pod with 5 waiting as saturated; KV alone only when nearly
  // full (vLLM runs with a full cache by design, so 80 % says little).
  audit: { mode: 'off' as AuditMode, ...AUDIT_STREAM_DEFAULTS },
  shed: { maxWaiting: 5, maxKvUsage: 0.98, maxInFlight: null, maxQueuedPromptTokens: null, queueSize: 1000, queueTimeoutMs: 30_000 },
  missedBeats: 3,
  syncIntervalMs: 20,
  syncFullIntervalMs: 1000,
  retryAfterS: 1,
  pd: PD_DEFAULTS,
  breaker: BREAKER_DEFAULTS,
  startupGraceMs: 1500,
  heartbeat: { ...HEARTBEAT_LIMIT_DEFAULTS, workerAllow: null },
  probeIntervalMs: 2000,
  expiryIntervalMs: 250,
  shutdownGraceMs: 10_000,
  bundleLingerMs: 1,
} satisfies Omit<SchedulerOptions, 'id'>);

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) deepFreeze(v);
  return Object.freeze(o);
}

/** Checks every field and throws a RangeError that names the first bad one; returns a frozen copy. */
export function validateSchedulerOptions(o: SchedulerOptions): Readonly<SchedulerOptions> {
  const bad = (what: string): never => {
    throw new RangeError(`invalid scheduler option ${what}`);
  };
  const int = (name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    if (!(Number.isInteger(v) && v >= min && v <= max)) bad(`${name} ${v}: must be an integer from ${min} to ${max}`);
  };
  const positive = (name: string, v: number): void => {
    if (!(Number.isFinite(v) && v > 0)) bad(`${name} ${v}: must be a positive number`);
  };
  const policy = (name: string, v: unknown): void => {
    if (typeof v !== 'string' || !isPolicyType(v)) bad(`${name} ${JSON.stringify(v)}: one of ${POLICY_TYPES.join(', ')}`);
  };
  const object = (name: string, v: unknown): void => {
    if (typeof v !== 'object' || v === null) bad(`${name}: missing`);
  };

  if (!isSubjectId(o.id)) bad(`id ${JSON.stringify(o.id)}: use letters, digits, _ and -`);
  if (!isSubjectId(o.region)) bad(`region ${JSON.stringify(o.region)}: use letters, digits, _ and -`);
  policy('policy', o.policy);
  if (o.prefillPolicy !== undefined) policy('prefillPolicy', o.prefillPolicy);
  if (o.decodePolicy !== undefined) policy('decodePolicy', o.decodePolicy);
  for (const [model, p] of Object.entries(o.modelPolicies ?? {})) policy(`modelPolicies[${JSON.stringify(model)}]`, p);

  object('upstream', o.upstream);
  const u = o.upstream;
  for (const k of ['connectTimeoutMs', 'headersTimeoutMs', 'bodyTimeoutMs', 'keepAliveTimeoutMs', 'keepAliveMaxTimeoutMs', 'maxBufferedBytes'] as const) int(`upstream.${k}`, u[k], 1);
  int('upstream.discardLimitBytes', u.discardLimitBytes, 0);
  // A control character would make every call to a worker fail as an invalid header.
  if (u.workerApiKey !== null && (typeof u.workerApiKey !== 'string' || u.workerApiKey.length === 0 || /[\0\r\n]/.test(u.workerApiKey)))
    bad('upstream.workerApiKey: a non-empty string without line breaks, or null');

  object('retry', o.retry);
  int('retry.maxAttempts', o.retry.maxAttempts, 1, 100);
  int('retry.initialBackoffMs', o.retry.initialBackoffMs, 0);
  int('retry.maxBackoffMs', o.retry.maxBackoffMs, 0);
  positive('retry.multiplier', o.retry.multiplier);
  if (o.retryBudget !== null) {
    object('retryBudget', o.retryBudget);
    if (!(Number.isFinite(o.retryBudget.ratio) && o.retryBudget.ratio >= 0)) bad(`retryBudget.ratio ${o.retryBudget.ratio}: a number of at least 0`);
    int('retryBudget.minRetries', o.retryBudget.minRetries, 0);
    int('retryBudget.windowMs', o.retryBudget.windowMs, 10);
  }

  if (o.shed !== null) {
    object('shed', o.shed);
    int('shed.maxWaiting', o.shed.maxWaiting, 1);
    if (!(Number.isFinite(o.shed.maxKvUsage) && o.shed.maxKvUsage > 0 && o.shed.maxKvUsage <= 1)) bad(`shed.maxKvUsage ${o.shed.maxKvUsage}: above 0, at most 1`);
    if (o.shed.maxInFlight !== null) int('shed.maxInFlight', o.shed.maxInFlight, 1);
    if (o.shed.maxQueuedPromptTokens !== null) int('shed.maxQueuedPromptTokens', o.shed.maxQueuedPromptTokens, 1);
    int('shed.queueSize', o.shed.queueSize, 0);
    int('shed.queueTimeoutMs', o.shed.queueTimeoutMs, 1);
  }
  object('audit', o.audit);
  if (!AUDIT_MODES.includes(o.audit.mode)) bad(`audit.mode ${JSON.stringify(o.audit.mode)}: one of ${AUDIT_MODES.join(', ')}`);
  int('audit.maxAgeMs', o.audit.maxAgeMs, 1000);
  int('audit.maxBytes', o.audit.maxBytes, 1024 * 1024);
  int('missedBeats', o.missedBeats, 1, 100);
  int('syncIntervalMs', o.syncIntervalMs, 1);
  int('syncFullIntervalMs', o.syncFullIntervalMs, 1);
  int('retryAfterS', o.retryAfterS, 0);

  object('pd', o.pd);
  object('pd.decider', o.pd.decider);
  int('pd.decider.thresholdTokens', o.pd.decider.thresholdTokens, 0);
  int('pd.decider.prefillMaxWaiting', o.pd.decider.prefillMaxWaiting, 1);
  positive('pd.decider.prefillMaxKvUsage', o.pd.decider.prefillMaxKvUsage);
  if (o.pd.decider.localMarginTokens !== null) int('pd.decider.localMarginTokens', o.pd.decider.localMarginTokens, 0);
  if (o.pd.onPrefillFailure !== 'retry' && o.pd.onPrefillFailure !== 'decode') bad(`pd.onPrefillFailure ${JSON.stringify(o.pd.onPrefillFailure)}: retry or decode`);
  if (typeof o.pd.strict !== 'boolean') bad(`pd.strict ${JSON.stringify(o.pd.strict)}: true or false`);
  int('pd.kvLeaseMs', o.pd.kvLeaseMs, 1);

  if (o.breaker !== null) {
    object('breaker', o.breaker);
    int('breaker.failureThreshold', o.breaker.failureThreshold, 1);
    int('breaker.successThreshold', o.breaker.successThreshold, 1);
    int('breaker.cooldownMs', o.breaker.cooldownMs, 0);
  }

  int('startupGraceMs', o.startupGraceMs, 0);
  object('heartbeat', o.heartbeat);
  int('heartbeat.maxClockSkewMs', o.heartbeat.maxClockSkewMs, 0);
  int('heartbeat.maxIntervalMs', o.heartbeat.maxIntervalMs, 10, 600_000);
  if (o.heartbeat.workerAllow !== null && !(o.heartbeat.workerAllow instanceof AllowList)) bad('heartbeat.workerAllow: an AllowList (runtime/address-allow.ts) or null');

  int('probeIntervalMs', o.probeIntervalMs, 1);
  int('expiryIntervalMs', o.expiryIntervalMs, 1);
  int('shutdownGraceMs', o.shutdownGraceMs, 0);
  if (!(Number.isFinite(o.bundleLingerMs) && o.bundleLingerMs >= 0 && o.bundleLingerMs <= 100)) bad(`bundleLingerMs ${o.bundleLingerMs}: a number of milliseconds from 0 to 100`);

  return Object.freeze({
    ...o,
    upstream: Object.freeze({ ...o.upstream }),
    retry: Object.freeze({ ...o.retry }),
    retryBudget: o.retryBudget === null ? null : Object.freeze({ ...o.retryBudget }),
    shed: o.shed === null ? null : Object.freeze({ ...o.shed }),
    audit: Object.freeze({ ...o.audit }),
    pd: Object.freeze({ ...o.pd, decider: Object.freeze({ ...o.pd.decider }) }),
    breaker: o.breaker && Object.freeze({ ...o.breaker }),
    heartbeat: Object.freeze({ ...o.heartbeat }),
    ...(o.modelPolicies ? { modelPolicies: Object.freeze({ ...o.modelPolicies }) } : {}),
  });
}
