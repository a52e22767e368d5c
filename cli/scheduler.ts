// `llm-router scheduler`: one scheduler replica (run as many as you like).
import { Command, InvalidArgumentError, Option } from 'commander';
import { connectNats } from '../runtime/nats.ts';
import { createLogger } from '../runtime/logger.ts';
import { onShutdown } from '../runtime/lifecycle.ts';
import { isPolicyType, POLICY_TYPES, type PolicyType } from '../scheduler/policies/index.ts';
import { SCHEDULER_DEFAULTS, validateSchedulerOptions, type SchedulerOptions } from '../scheduler/options.ts';
import { RETRY_BUDGET_DEFAULTS } from '../scheduler/retry-budget.ts';
import { AUDIT_MODES, type AuditMode } from '../audit/publisher.ts';
import { Scheduler } from '../scheduler/service.ts';
import { parseAllowList, type AllowList } from '../runtime/address-allow.ts';
import { serveMetrics } from '../runtime/metrics-server.ts';
import { addBusOptions, randomId, type BusFlags } from './common.ts';
import { natsOptions } from './nats-options.ts';
import { byteSize, duration, integer } from './parsers.ts';
import { readSecret } from './secrets.ts';

export interface SchedulerFlags extends BusFlags {
  id?: string;
  region: string;
  policy: PolicyType;
  prefillPolicy?: PolicyType;
  decodePolicy?: PolicyType;
  modelPolicy: Record<string, PolicyType>;
  retryMaxAttempts: number;
  retryInitialBackoffMs: number;
  retryMaxBackoffMs: number;
  retryMultiplier: number;
  retryBudget: boolean;
  retryBudgetRatio: number;
  retryBudgetMin: number;
  retryBudgetWindowMs: number;
  shed: boolean;
  shedMaxWaiting: number;
  shedMaxKvUsage: number;
  shedMaxInflightPerWorker?: number;
  shedMaxQueuedPromptTokens?: number;
  shedQueueSize: number;
  shedQueueTimeoutMs: number;
  audit: AuditMode;
  auditMaxAge: number;
  auditMaxBytes: number;
  connectTimeoutMs: number;
  upstreamHeadersTimeoutMs: number;
  upstreamBodyTimeoutMs: number;
  workerApiKey?: string;
  workerApiKeyFile?: string;
  missedBeats: number;
  shutdownGraceMs: number;
  bundleLingerMs: number;
  metricsHost: string;
  metricsPort: number;
  pdThresholdTokens: number;
  pdPrefillMaxWaiting: number;
  pdPrefillMaxKvUsage: number;
  pdLocalMarginTokens: number;
  pdOnPrefillFailure: 'retry' | 'decode';
  pdStrict?: boolean;
  pdKvLeaseMs: number;
  cbFailureThreshold: number;
  cbSuccessThreshold: number;
  cbCooldownMs: number;
  circuitBreaker: boolean;
  maxClockSkewMs: number;
  maxHeartbeatIntervalMs: number;
  workerAllow?: AllowList;
}

function allowList(value: string): AllowList {
  try {
    return parseAllowList(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function modelPolicy(value: string, previous: Record<string, PolicyType>): Record<string, PolicyType> {
  const i = value.lastIndexOf('=');
  const model = value.slice(0, i);
  const policy = value.slice(i + 1);
  if (i <= 0 || !isPolicyType(policy)) throw new InvalidArgumentError(`expected MODEL=POLICY with POLICY one of ${POLICY_TYPES.join(', ')}`);
  return { ...previous, [model]: policy };
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of at least 0');
  return n;
}

/** The scheduler's options from its flags; what no flag sets comes from SCHEDULER_DEFAULTS. */
export function schedulerOptionsFromFlags(f: SchedulerFlags, id: string, workerApiKey: string | null): SchedulerOptions {
  const d = SCHEDULER_DEFAULTS;
  return {
    ...d,
    id,
    region: f.region,
    policy: f.policy,
    prefillPolicy: f.prefillPolicy,
    decodePolicy: f.decodePolicy,
    modelPolicies: f.modelPolicy,
    upstream: {
      ...d.upstream,
      connectTimeoutMs: f.connectTimeoutMs,
      headersTimeoutMs: f.upstreamHeadersTimeoutMs,
      bodyTimeoutMs: f.upstreamBodyTimeoutMs,
      workerApiKey,
    },
    retry: { maxAttempts: f.retryMaxAttempts, initialBackoffMs: f.retryInitialBackoffMs, maxBackoffMs: f.retryMaxBackoffMs, multiplier: f.retryMultiplier },
    audit: { mode: f.audit, maxAgeMs: f.auditMaxAge, maxBytes: f.auditMaxBytes },
    retryBudget: f.retryBudget ? { ratio: f.retryBudgetRatio, minRetries: f.retryBudgetMin, windowMs: f.retryBudgetWindowMs } : null,
    shed: f.shed
      ? {
          maxWaiting: f.shedMaxWaiting,
          maxKvUsage: f.shedMaxKvUsage,
          maxInFlight: f.shedMaxInflightPerWorker ?? null,
          maxQueuedPromptTokens: f.shedMaxQueuedPromptTokens ?? null,
          queueSize: f.shedQueueSize,
          queueTimeoutMs: f.shedQueueTimeoutMs,
        }
      : null,
    missedBeats: f.missedBeats,
    heartbeat: { maxClockSkewMs: f.maxClockSkewMs, maxIntervalMs: f.maxHeartbeatIntervalMs, workerAllow: f.workerAllow ?? null },
    breaker: f.circuitBreaker ? { failureThreshold: f.cbFailureThreshold, successThreshold: f.cbSuccessThreshold, cooldownMs: f.cbCooldownMs } : null,
    pd: {
      decider: {
        thresholdTokens: f.pdThresholdTokens,
        prefillMaxWaiting: f.pdPrefillMaxWaiting,
        prefillMaxKvUsage: f.pdPrefillMaxKvUsage,
        localMarginTokens: f.pdLocalMarginTokens < 0 ? null : f.pdLocalMarginTokens,
      },
      onPrefillFailure: f.pdOnPrefillFailure,
      strict: f.pdStrict === true,
      kvLeaseMs: f.pdKvLeaseMs,
    },
    shutdownGraceMs: f.shutdownGraceMs,
    bundleLingerMs: f.bundleLingerMs,
  };
}

export function schedulerCommand(): Command {
  const d = SCHEDULER_DEFAULTS;
  const shed = SCHEDULER_DEFAULTS.shed;
  const cmd = new Command('scheduler').description('run a scheduler replica: registry from heartbeats, policies, dispatch to workers');
  addBusOptions(cmd)
    .addOption(new Option('--id <id>', 'replica id (letters, digits, _ -); default random'))
    .addOption(new Option('--region <name>', "this replica's region").env('LLMR_REGION').default(d.region))
    .addOption(new Option('--policy <type>', 'default policy').choices(POLICY_TYPES).env('LLMR_POLICY').default(d.policy))
    .addOption(new Option('--prefill-policy <type>', 'policy for prefill workers (default: --policy)').choices(POLICY_TYPES))
    .addOption(new Option('--decode-policy <type>', 'policy for decode workers (default: --policy)').choices(POLICY_TYPES))
    .addOption(new Option('--model-policy <model=type>', 'policy for one model (repeatable)').argParser(modelPolicy).default({}))
    .addOption(new Option('--retry-max-attempts <n>', 'attempts per request, the first included').argParser(integer(1, 100)).default(d.retry.maxAttempts))
    .addOption(new Option('--retry-initial-backoff-ms <ms>', 'first backoff cap').argParser(integer(0)).default(d.retry.initialBackoffMs))
    .addOption(new Option('--retry-max-backoff-ms <ms>', 'largest backoff cap').argParser(integer(0)).default(d.retry.maxBackoffMs))
    .addOption(new Option('--retry-multiplier <x>', 'backoff growth per retry').argParser(positiveNumber).default(d.retry.multiplier))
    .addOption(new Option('--retry-budget-ratio <x>', 'retries at most this share of the requests of the window').argParser(nonNegativeNumber).default(RETRY_BUDGET_DEFAULTS.ratio))
    .addOption(new Option('--retry-budget-min <n>', 'retries allowed in any window however few requests came').argParser(integer(0)).default(RETRY_BUDGET_DEFAULTS.minRetries))
    .addOption(new Option('--retry-budget-window-ms <ms>', "the retry budget's rolling window").argParser(integer(10)).default(RETRY_BUDGET_DEFAULTS.windowMs))
    .addOption(new Option('--no-retry-budget', 'no retry budget: every request may use all its attempts'))
    .addOption(
      new Option('--shed-max-waiting <n>', "a worker with this many requests waiting (its heartbeat's, plus what the routers sent since) is saturated").argParser(integer(1)).default(shed.maxWaiting),
    )
    .addOption(new Option('--shed-max-kv-usage <x>', '…or with its KV cache this full (0–1)').argParser(positiveNumber).default(shed.maxKvUsage))
    .addOption(new Option('--shed-max-inflight-per-worker <n>', '…or with this many requests in flight from every replica (default: no cap)').argParser(integer(1)))
    .addOption(new Option('--shed-max-queued-prompt-tokens <n>', '…or with this many prompt tokens sent to it by every replica and not computed yet (default: no cap)').argParser(integer(1)))
    .addOption(new Option('--shed-queue-size <n>', 'requests held at most while every worker of their model is saturated; beyond, 503').argParser(integer(0)).default(shed.queueSize))
    .addOption(new Option('--shed-queue-timeout-ms <ms>', 'longest hold; then 503').argParser(integer(1)).default(shed.queueTimeoutMs))
    .addOption(new Option('--no-shed', 'never hold requests: send them to saturated workers too'))
    .addOption(new Option('--audit <mode>', 'decision records into JetStream stream LLM_AUDIT (created here): off, best_effort, required').choices(AUDIT_MODES).env('LLMR_AUDIT').default(d.audit.mode))
    .addOption(new Option('--audit-max-age <duration>', 'LLM_AUDIT keeps records this long (e.g. 7d)').argParser(duration).default(d.audit.maxAgeMs, '7d'))
    .addOption(new Option('--audit-max-bytes <size>', 'LLM_AUDIT never holds more than this; the oldest go first (e.g. 10G)').argParser(byteSize).default(d.audit.maxBytes, '1G'))
    .addOption(new Option('--connect-timeout-ms <ms>', 'TCP connect to a worker').argParser(integer(1)).default(d.upstream.connectTimeoutMs))
    .addOption(new Option('--upstream-headers-timeout-ms <ms>', "until a worker's status line (its first token, for a stream)").argParser(integer(1)).default(d.upstream.headersTimeoutMs))
    .addOption(new Option('--upstream-body-timeout-ms <ms>', 'silence allowed between body chunks').argParser(integer(1)).default(d.upstream.bodyTimeoutMs))
    .addOption(new Option('--worker-api-key <key>', 'bearer token for workers (vLLM --api-key); prefer the environment or a file').env('LLMR_WORKER_API_KEY'))
    .addOption(new Option('--worker-api-key-file <file>', "read the workers' bearer token from this file").env('LLMR_WORKER_API_KEY_FILE'))
    .addOption(new Option('--metrics-host <addr>', 'address of the Prometheus /metrics endpoint').env('LLMR_METRICS_HOST').default('127.0.0.1'))
    .addOption(new Option('--metrics-port <port>', 'port of the Prometheus /metrics endpoint (0: any free port)').argParser(integer(0, 65535)).env('LLMR_METRICS_PORT').default(29000))
    .addOption(new Option('--shutdown-grace-ms <ms>', 'on SIGTERM, how long requests in flight may take to finish').argParser(integer(0)).default(d.shutdownGraceMs))
    .addOption(
      new Option('--bundle-linger-ms <ms>', 'after a bundle of frames to an ingress, how long the next may wait for more frames (0: publish every turn)')
        .argParser(integer(0, 100))
        .default(d.bundleLingerMs),
    )
    .addOption(
      new Option('--worker-allow <cidrs>', 'networks workers may be in (CIDRs or addresses, comma-separated): heartbeats naming a worker elsewhere, or by host name, are refused')
        .env('LLMR_WORKER_ALLOW')
        .argParser(allowList),
    )
    .addOption(new Option('--max-clock-skew-ms <ms>', 'refuse heartbeats sent further than this in the future').argParser(integer(0)).default(d.heartbeat.maxClockSkewMs))
    .addOption(new Option('--max-heartbeat-interval-ms <ms>', 'refuse heartbeats announcing a longer interval').argParser(integer(10, 600_000)).default(d.heartbeat.maxIntervalMs))
    .addOption(new Option('--missed-beats <n>', 'heartbeat intervals without news before a worker is dropped').argParser(integer(1, 100)).default(d.missedBeats))
    .addOption(
      new Option('--pd-threshold-tokens <n>', 'P/D: disaggregate only when this many prompt tokens are not cached on the decode worker').argParser(integer(0)).default(d.pd.decider.thresholdTokens),
    )
    .addOption(new Option('--pd-prefill-max-waiting <n>', 'P/D: a prefill worker with this many queued requests is saturated').argParser(integer(1)).default(d.pd.decider.prefillMaxWaiting))
    .addOption(new Option('--pd-prefill-max-kv-usage <x>', 'P/D: …or with this KV-cache usage (0–1)').argParser(positiveNumber).default(d.pd.decider.prefillMaxKvUsage))
    .addOption(
      new Option('--pd-local-margin-tokens <n>', 'P/D: serve a request whole on its decode worker when every prefill worker has this many more prompt tokens queued (-1: never)')
        .argParser(integer(-1))
        .default(d.pd.decider.localMarginTokens ?? -1),
    )
    .addOption(
      new Option('--pd-on-prefill-failure <what>', 'P/D: try other prefill workers, or serve the request whole on the decode worker').choices(['retry', 'decode']).default(d.pd.onPrefillFailure),
    )
    .addOption(new Option('--pd-strict', 'P/D: answer 503 when no prefill worker is ready, instead of serving requests whole on decode workers'))
    .addOption(new Option('--cb-failure-threshold <n>', "consecutive failures that open a worker's circuit breaker").argParser(integer(1)).default(d.breaker.failureThreshold))
    .addOption(new Option('--cb-success-threshold <n>', 'successes in half-open that close it').argParser(integer(1)).default(d.breaker.successThreshold))
    .addOption(new Option('--cb-cooldown-ms <ms>', 'time open before a trial request').argParser(integer(0)).default(d.breaker.cooldownMs))
    .addOption(new Option('--no-circuit-breaker', 'disable the circuit breakers'))
    .addOption(new Option('--pd-kv-lease-ms <ms>', 'P/D: how long prefill workers hold KV (vLLM kv_lease_duration)').argParser(integer(1)).default(d.pd.kvLeaseMs))
    .action(async (f: SchedulerFlags) => {
      const id = f.id ?? randomId('sched');
      const log = createLogger('scheduler', f.logLevel).child({ schedulerId: id });
      // Secrets and options before the bus: a bad file or value must stop the start at once, not after a connection.
      let options: Readonly<SchedulerOptions>;
      try {
        const workerApiKey = readSecret({ value: f.workerApiKey, file: f.workerApiKeyFile, what: '--worker-api-key-file' }) ?? null;
        options = validateSchedulerOptions(schedulerOptionsFromFlags(f, id, workerApiKey));
      } catch (e) {
        log.fatal({ err: (e as Error).message }, `scheduler cannot start: ${(e as Error).message}`);
        process.exit(1);
      }
      const nc = await connectNats(natsOptions(f, { name: `scheduler-${id}`, inboxPrefix: '_INBOX_scheduler' }), log);
      const scheduler = new Scheduler(nc, options, log);
      if (!f.workerAllow) log.warn("no --worker-allow: any agent on the bus may announce a worker at any address, and users' prompts (and the worker API key) go there");
      await scheduler.start();
      const metrics = await serveMetrics(scheduler.metrics.registry, f.metricsHost, f.metricsPort);
      log.info({ metrics: metrics.url }, 'metrics endpoint up');
      onShutdown(log, async () => {
        await scheduler.stop();
        metrics.server.close();
        await nc.drain();
      });
    });
  return cmd;
}
