// `node --import tsx bench/micro/pick.ts`: what one scheduler replica spends deciding where a
// request goes, at the scale of a large fleet: 1,000 workers registered from their heartbeats
// and a prefix index holding 1,000,000 blocks of Mooncake-like prompt chains (pick-workload.ts).
// Each decision is the scheduler's own code path for a whole request (pickWorker with the
// service's metrics as its events, then the breaker slot and the in-flight increment of
// attemptCall), timed one by one. Between decisions, in the order of a virtual clock running at
// `--rate` decisions per second, comes what else the replica's one thread does: every worker's
// heartbeat once per `--heartbeat-ms` (decoded, admitted, upserted), each request's prompt done and
// end (the in-flight decrements), the expiry and sync timers, and other replicas' sync messages.
// Throughput is decisions over the time all of that took: a replica keeps up with `--rate` when
// it is above it. On a shared machine a call during which this thread waited for a CPU is its
// neighbours' as much as its own: the tables give every call and the unpreempted ones, and the
// throughput counts a preempted call at its kind's median (pick-timing.ts). A decision's time is
// also split into the policy's pick and the prefix index's match and insert. GC pauses during the
// measured window come from a PerformanceObserver. Decisions do not depend on timing: the picks'
// digest is the same for the same options whatever the code's speed (a check that an optimisation
// changed no decision). Prints Markdown tables and writes bench/results/micro-pick.json.
//
//   node --import tsx bench/micro/pick.ts [--policies least_load,bounded_load,…] [--workers 1000]
//        [--blocks 1000000] [--decisions 50000] [--warmup 20000] [--rate 10000]     (--help: every option)
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/micro/pick.ts --policies least_load
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from 'commander';
import { decodeHeartbeat, encodeHeartbeat } from '../../proto/heartbeat.ts';
import { encodeSyncMessage, decodeSyncMessage } from '../../proto/sched-sync.ts';
import { CandidateCache } from '../../scheduler/candidate-cache.ts';
import { BREAKER_DEFAULTS, CircuitBreakers } from '../../scheduler/circuit-breaker.ts';
import { admitHeartbeat } from '../../scheduler/heartbeat-admission.ts';
import { type InflightHandle, InflightTracker } from '../../scheduler/inflight.ts';
import { SchedulerMetrics } from '../../scheduler/metrics.ts';
import { pickWorker, type PickDeps } from '../../scheduler/pick.ts';
import { isPolicyType, type PolicyType } from '../../scheduler/policies/index.ts';
import { PolicySet } from '../../scheduler/policy-set.ts';
import { PrefixIndex } from '../../scheduler/prefix-index.ts';
import { CHARS_PER_TOKEN } from '../../proto/prompt.ts';
import { Registry } from '../../scheduler/registry.ts';
import type { PreparedRequest } from '../../scheduler/request.ts';
import { TriedWorkers } from '../../scheduler/retry-executor.ts';
import { wholeLoad } from '../../scheduler/whole.ts';
import { benchCommand, integer } from '../lib/command.ts';
import { loadAverage1 } from '../lib/procfs.ts';
import { mulberry32, substream } from '../lib/prng.ts';
import { instrument, type Latency, Samples, type Timing, timed, timing } from './pick-timing.ts';
import { fillPrefixIndex, heartbeat, MODEL, type BenchRequest, Workload, workerId } from './pick-workload.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Options {
  readonly policies: readonly PolicyType[];
  readonly workers: number;
  readonly blocks: number;
  readonly decisions: number;
  readonly warmup: number;
  readonly rate: number;
  readonly heartbeatMs: number;
  readonly lifetimeMs: number;
  readonly promptBlocks: number;
  readonly conversations: number;
  readonly peers: number;
  readonly seed: number;
  readonly out: string;
}

/** Timers of the scheduler service (scheduler/options.ts defaults). */
const EXPIRY_MS = 250;
const SYNC_MS = 20;
const SYNC_FULL_MS = 1000;
/** A request's prompt is computed in this share of its life; it decodes for the rest. */
const PREFILL_SHARE = 0.15;

function policyList(value: string): PolicyType[] {
  const out = value.split(',').map((s) => s.trim());
  for (const p of out) if (!isPolicyType(p)) throw new InvalidArgumentError(`unknown policy ${p}`);
  return out as PolicyType[];
}

function parseOptions(argv: readonly string[]): Options {
  const c = benchCommand('micro-pick', 'Per-decision latency and one-core throughput of the scheduler at fleet scale.')
    .option('--policies <list>', 'policies to measure, comma-separated', policyList, ['round_robin', 'power_of_two', 'least_load', 'bounded_load', 'llmd'] as PolicyType[])
    .option('--workers <n>', 'workers in the fleet', integer(1), 1000)
    .option('--blocks <n>', 'blocks the prefix index holds (each worker remembers blocks ÷ workers)', integer(1), 1_000_000)
    .option('--decisions <n>', 'measured decisions per policy', integer(1), 50_000)
    .option('--warmup <n>', 'decisions before measuring (JIT, in-flight population, index churn)', integer(0), 20_000)
    .option('--rate <n>', 'decisions per second of the virtual clock (heartbeats and timers keep their own rates)', integer(1), 10_000)
    .option('--heartbeat-ms <n>', 'each worker beats once per this interval', integer(10), 1000)
    .option('--lifetime-ms <n>', 'mean time a request stays in flight (exponential)', integer(1), 2000)
    .option('--prompt-blocks <n>', "mean of a conversation's final prompt, in 32-token blocks (Mooncake's mean input is 7,590 tokens)", integer(1), 237)
    .option('--conversations <n>', 'conversations in progress at once', integer(1), 20_000)
    .option('--peers <n>', 'other scheduler replicas whose sync messages arrive', integer(0), 2)
    .option('--seed <n>', 'seed of the workload and of the policies’ randomness', integer(0), 1)
    .option('--out <file>', 'JSON results', join(ROOT, 'bench', 'results', 'micro-pick.json'));
  c.parse([...argv], { from: 'user' });
  const o = c.opts<Omit<Options, 'out'> & { out: string }>();
  return { ...o, out: resolve(o.out) };
}

/** Pending in-flight phase changes, in 1 ms buckets of the virtual clock. */
class Wheel {
  readonly #buckets = new Map<number, InflightHandle[][]>();
  #cursor = 0;

  add(atMs: number, h: InflightHandle, end: boolean): void {
    const k = Math.ceil(atMs);
    let b = this.#buckets.get(k);
    if (!b) {
      b = [[], []];
      this.#buckets.set(k, b);
    }
    b[end ? 1 : 0]!.push(h);
  }

  /** Runs every change due by `nowMs`, timing each into `times`. */
  runUntil(nowMs: number, times: Samples | null): void {
    for (; this.#cursor <= nowMs; this.#cursor++) {
      const b = this.#buckets.get(this.#cursor);
      if (!b) continue;
      this.#buckets.delete(this.#cursor);
      for (const h of b[0]!) timed(times, () => h.prefillDone());
      for (const h of b[1]!) timed(times, () => h.end());
    }
  }
}

/** Another replica: its own in-flight figures (random workers), published as sync messages. */
class Peer {
  readonly tracker: InflightTracker;
  readonly #ends: { at: number; h: InflightHandle }[] = [];
  readonly #r: () => number;
  readonly #ids: readonly string[];
  readonly #rate: number;
  readonly #lifetimeMs: number;
  #t = 0;

  constructor(name: string, ids: readonly string[], now: () => number, rate: number, lifetimeMs: number, seed: number) {
    this.tracker = new InflightTracker(name, now);
    this.#r = substream(seed, name);
    this.#ids = ids;
    this.#rate = rate;
    this.#lifetimeMs = lifetimeMs;
  }

  /** Its decisions up to `nowMs` (not ours to time), then the message it would send. */
  advance(nowMs: number, full: boolean): Uint8Array {
    const step = 1000 / this.#rate;
    for (; this.#t <= nowMs; this.#t += step) {
      const w = this.#ids[Math.floor(this.#r() * this.#ids.length)]!;
      this.#ends.push({ at: this.#t - this.#lifetimeMs * Math.log(1 - this.#r()), h: this.tracker.start(w, 1000, 1200) });
    }
    let keep = 0;
    for (const e of this.#ends) {
      if (e.at <= nowMs) e.h.end();
      else this.#ends[keep++] = e;
    }
    this.#ends.length = keep;
    return encodeSyncMessage(this.tracker.snapshot(full));
  }
}

interface Row {
  readonly policy: PolicyType;
  /** pickWorker, the breaker slot and the in-flight increment. */
  readonly decision: Timing;
  /** Within the unpreempted decisions: the policy's pick, the prefix index's matcher (all workers at once) and its insert. */
  readonly parts: { readonly policy: Timing; readonly match: Timing; readonly insert: Timing; readonly rest: Timing };
  readonly heartbeat: Timing;
  /** A request's prompt done or its end (in-flight decrements). */
  readonly inflightUpdate: Timing;
  /** Worker expiry, and this replica's sync message. */
  readonly timers: Timing;
  /** Another replica's sync message decoded and applied. */
  readonly peerSync: Timing;
  /** Decisions per second of the replica's time (decisions and everything between them), preempted calls at their kind's median. */
  readonly decisionsPerS: number;
  /** The same with every call at its measured duration, preemption included. */
  readonly decisionsPerSRaw: number;
  /** Share of the replica's time the decisions themselves took. */
  readonly decisionShare: number;
  readonly gc: { readonly count: number; readonly totalMs: number; readonly maxMs: number };
  /** Prompt tokens the index said were cached where the policy sent them, over all prompt tokens. */
  readonly cachedShare: number | null;
  readonly meanPromptBlocks: number;
  readonly inflightAtEnd: number;
  readonly indexBlocks: number;
  readonly setupS: number;
  /** FNV-1a of every picked worker id in order: the same options must give the same digest whatever the code's speed. */
  readonly picks: string;
}

function fnv1a(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return Math.imul(h ^ 0x2c, 0x01000193) >>> 0;
}

async function measure(policy: PolicyType, o: Options): Promise<Row> {
  const setup0 = performance.now();
  let clock = 0;
  const now = (): number => clock;
  const registry = new Registry({ now });
  const inflight = new InflightTracker('bench', now, 3 * SYNC_FULL_MS);
  const breakers = new CircuitBreakers(BREAKER_DEFAULTS, now);
  const metrics = new SchedulerMetrics({ schedulerId: 'bench', fleet: registry, breakers, inflight, outboxes: { stats: { bundles: 0, frames: 0, bytes: 0, failed: 0 } } });
  const ids = Array.from({ length: o.workers }, (_, i) => workerId(i));
  const limits = { maxClockSkewMs: 10_000, maxIntervalMs: 60_000, workerAllow: null };
  const seq = new Array<number>(o.workers).fill(0);
  /** What an agent sends: its worker's load as the router's in-flight figures say (encoding is the agent's work, not timed). */
  const beat = (i: number): Uint8Array => {
    const n = inflight.total(ids[i]!);
    return encodeHeartbeat(heartbeat(i, ++seq[i]!, clock, o.heartbeatMs, { running: Math.min(n, 48), waiting: Math.max(0, n - 48), kvUsage: Math.min(1, n / 64) }));
  };
  const onBeat = (bytes: Uint8Array, i: number): void => {
    const hb = decodeHeartbeat(bytes);
    if (!hb.ok) throw new Error(hb.reason);
    const admitted = admitHeartbeat(hb.value, { region: hb.value.region, agent: hb.value.agent, worker: hb.value.id }, clock, limits);
    if (!admitted.ok) throw new Error(admitted.reason);
    if (registry.upsert(hb.value) === 'conflict') throw new Error(`conflict on ${ids[i]}`);
    metrics.counters.countHeartbeat('accepted');
  };
  for (let i = 0; i < o.workers; i++) onBeat(beat(i), i);

  const prefix = new PrefixIndex({ maxBlocksPerWorker: Math.ceil(o.blocks / o.workers) });
  const workload = new Workload({ seed: o.seed, promptBlocks: o.promptBlocks, conversations: o.conversations, systemPrompts: 32 });
  fillPrefixIndex(prefix, ids, workload, o.blocks, o.seed);
  const deps: PickDeps = { registry, candidates: new CandidateCache(inflight, registry), breakers, policies: new PolicySet({ policy }), prefix, events: metrics, random: mulberry32(o.seed) };
  // Where a decision's time goes: the policy's choice, and the prefix index's match and insert.
  const part = { policy: { us: 0 }, match: { us: 0 }, insert: { us: 0 } };
  instrument(deps.policies.get(MODEL, 'whole'), 'pick', part.policy);
  instrument(prefix, 'matcher', part.match);
  instrument(prefix, 'insert', part.insert);
  const parts = { policy: new Samples(), match: new Samples(), insert: new Samples(), rest: new Samples() };
  const peers = Array.from({ length: o.peers }, (_, k) => new Peer(`peer-${k}`, ids, now, o.rate, o.lifetimeMs, o.seed));
  const life = substream(o.seed, 'lifetime');
  const wheel = new Wheel();
  const signal = new AbortController().signal;
  const setupS = (performance.now() - setup0) / 1000;

  const decisions = new Samples();
  const beats = new Samples();
  const ends = new Samples();
  const timers = new Samples();
  const syncs = new Samples();
  let cached = 0;
  let promptTokens = 0;
  let chainBlocks = 0;
  /** Over every pick, warm-up included: two builds of the scheduler decide the same iff it matches. */
  let digest = 0x811c9dc5;
  const stepMs = 1000 / o.rate;
  const beatStepMs = o.heartbeatMs / o.workers;
  let beatCount = 0;
  let nextExpiry = EXPIRY_MS;
  let nextSync = SYNC_MS;
  let nextFull = SYNC_FULL_MS;
  let nextPeer = SYNC_MS / 2;
  let peerFullAt = SYNC_FULL_MS / 2;
  const gcs: number[] = [];
  let measuring = false;
  const obs = new PerformanceObserver((list) => {
    if (measuring) for (const e of list.getEntries()) gcs.push(e.duration);
  });
  obs.observe({ entryTypes: ['gc'] });

  const total = o.warmup + o.decisions;
  for (let k = 0; k < total; k++) {
    if (k === o.warmup) {
      // Deliver the warm-up's GC entries before counting.
      await new Promise((r) => setImmediate(r));
      measuring = true;
    }
    const m = k >= o.warmup;
    clock = k * stepMs;
    // Everything due before this decision, in the order it would have happened.
    for (; beatCount * beatStepMs <= clock; beatCount++) {
      const i = beatCount % o.workers;
      const bytes = beat(i);
      timed(m ? beats : null, () => onBeat(bytes, i));
    }
    wheel.runUntil(clock, m ? ends : null);
    if (clock >= nextExpiry) {
      nextExpiry += EXPIRY_MS;
      timed(m ? timers : null, () => {
        registry.expire();
        inflight.expire();
      });
    }
    if (clock >= nextSync) {
      const full = clock >= nextFull;
      nextSync += SYNC_MS;
      if (full) nextFull += SYNC_FULL_MS;
      timed(m ? timers : null, () => {
        if (full || inflight.hasChanges) encodeSyncMessage(inflight.snapshot(full));
      });
    }
    if (clock >= nextPeer) {
      const full = clock >= peerFullAt;
      nextPeer += SYNC_MS;
      if (full) peerFullAt += SYNC_FULL_MS;
      for (const p of peers) {
        const bytes = p.advance(clock, full);
        timed(m ? syncs : null, () => {
          const msg = decodeSyncMessage(bytes);
          if (msg) inflight.apply(msg);
        });
      }
    }

    const q = workload.next();
    const req = preparedRequest(q, k, signal);
    let handle: InflightHandle | undefined;
    let cachedTokens = 0;
    let chosen = '';
    part.policy.us = part.match.us = part.insert.us = 0;
    const tookUs = timed(m ? decisions : null, () => {
      const tried = new TriedWorkers();
      const picked = pickWorker(deps, req, 'whole', tried.of('whole'));
      if (!picked) throw new Error('no worker');
      tried.add('whole', picked.worker.id);
      cachedTokens = picked.cachedTokens ?? 0;
      chosen = picked.worker.id;
      const load = wholeLoad(req, cachedTokens);
      breakers.acquire(picked.worker.id);
      handle = inflight.start(picked.worker.id, load.prefill, load.decode);
    });
    const lifetime = -o.lifetimeMs * Math.log(1 - life());
    wheel.add(clock + PREFILL_SHARE * lifetime, handle!, false);
    wheel.add(clock + lifetime, handle!, true);
    digest = fnv1a(digest, chosen);
    if (tookUs !== null) {
      for (const k of ['policy', 'match', 'insert'] as const) parts[k].add(part[k].us, false);
      parts.rest.add(tookUs - part.policy.us - part.match.us - part.insert.us, false);
    }
    if (m) {
      cached += cachedTokens;
      promptTokens += req.promptTokens();
      chainBlocks += q.chain.length;
    }
  }
  await new Promise((r) => setImmediate(r));
  obs.disconnect();
  const usesPrefix = deps.policies.get(MODEL, 'whole').consumes.includes('prefix');
  let inflightNow = 0;
  for (const id of ids) inflightNow += inflight.local(id);
  const kinds = [decisions, beats, ends, timers, syncs];
  const busyUs = kinds.reduce((sum, k) => sum + k.busyUs(), 0);
  const rawUs = kinds.reduce((sum, k) => sum + k.all.reduce((a, b) => a + b, 0), 0);
  return {
    policy,
    decision: timing(decisions),
    parts: { policy: timing(parts.policy), match: timing(parts.match), insert: timing(parts.insert), rest: timing(parts.rest) },
    heartbeat: timing(beats),
    inflightUpdate: timing(ends),
    timers: timing(timers),
    peerSync: timing(syncs),
    decisionsPerS: o.decisions / (busyUs / 1e6),
    decisionsPerSRaw: o.decisions / (rawUs / 1e6),
    decisionShare: decisions.busyUs() / busyUs,
    gc: { count: gcs.length, totalMs: gcs.reduce((a, b) => a + b, 0), maxMs: gcs.reduce((a, b) => Math.max(a, b), 0) },
    cachedShare: usesPrefix ? cached / promptTokens : null,
    meanPromptBlocks: chainBlocks / o.decisions,
    inflightAtEnd: inflightNow,
    indexBlocks: prefix.size,
    setupS,
    picks: digest.toString(16).padStart(8, '0'),
  };
}

/** The request as dispatch sees it once prepared: its chain is given (hashing the prompt's text is not part of the decision). */
function preparedRequest(q: BenchRequest, k: number, signal: AbortSignal): PreparedRequest {
  const tokens = q.chain.length * (128 / CHARS_PER_TOKEN);
  return {
    model: MODEL,
    meta: { requestId: `req-${k}`, route: 'chat', stream: true, routingKey: q.session, deadline: null, region: null, traceparent: null, priority: 0, auditId: null },
    body: new Uint8Array(0),
    signal,
    workerRequestId: `bench-${k}`,
    json: () => null,
    prefixChain: () => q.chain,
    promptTokens: () => tokens,
    promptTokensEstimate: () => tokens,
  };
}

const us = (x: number): string => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));

const o = parseOptions(process.argv.slice(2));
const rows: Row[] = [];
// A shared machine's neighbours slow every call down (caches, memory bandwidth) even when they do not preempt it.
const loadBefore = loadAverage1();
for (const p of o.policies) {
  rows.push(await measure(p, o));
  process.stderr.write(`${p}: done\n`);
}
process.stdout.write(
  `${o.workers.toLocaleString('en')} workers, ${o.blocks.toLocaleString('en')} blocks in the prefix index, ${o.decisions.toLocaleString('en')} decisions measured after ${o.warmup.toLocaleString('en')}, heartbeats ${((1000 * o.workers) / o.heartbeatMs).toLocaleString('en')}/s, ${o.peers} peer replicas, Node ${process.version}, load average ${loadBefore} before, ${loadAverage1()} after\n\n`,
);
const row = (cells: readonly (string | number)[]): void => void process.stdout.write(`| ${cells.join(' | ')} |\n`);
const lat = (t: Latency): string[] => [us(t.p50), us(t.p99), us(t.p999), us(t.max)];
process.stdout.write('One decision (pickWorker, breaker slot, in-flight increment), µs. Unpreempted: the calls during which this thread never waited for a CPU.\n\n');
row(['policy', 'p50', 'p99', 'p99.9', 'max', 'unpreempted p50', 'p99', 'p99.9', 'max', 'preempted', 'decisions/s, one core', 'raw'].map(String));
row(Array(12).fill('---'));
for (const r of rows) {
  row([
    r.policy,
    ...lat(r.decision.all),
    ...lat(r.decision.unpreempted),
    `${(100 * r.decision.preemptedShare).toFixed(1)} %`,
    Math.round(r.decisionsPerS).toLocaleString('en'),
    Math.round(r.decisionsPerSRaw).toLocaleString('en'),
  ]);
}
process.stdout.write(
  '\nWhere an unpreempted decision’s time goes, µs (p50 / p99 of each part on its own): the policy’s pick, the prefix index’s match of the chain against every worker and its insert (for the policies that read it), and the rest of the decision.\n\n',
);
row(['policy', 'decision', 'policy pick', 'prefix match', 'prefix insert', 'the rest (candidates, metrics, in-flight)']);
row(Array(6).fill('---'));
for (const r of rows) {
  const pp = (t: Timing): string => `${us(t.unpreempted.p50)} / ${us(t.unpreempted.p99)}`;
  row([r.policy, pp(r.decision), pp(r.parts.policy), pp(r.parts.match), pp(r.parts.insert), pp(r.parts.rest)]);
}
process.stdout.write('\nThe rest of the replica’s work between decisions (unpreempted calls), µs; GC pauses during the measured window.\n\n');
row([
  'policy',
  'decisions’ share of the time',
  'heartbeat p50 / p99 / max',
  'in-flight decrement p99 / max',
  'peer sync p99 / max',
  'timers p99 / max',
  'GC pauses: count, total ms, max ms',
  'cached share',
  'mean prompt blocks',
  'picks digest',
]);
row(Array(10).fill('---'));
for (const r of rows) {
  const u = (t: Timing): string => `${us(t.unpreempted.p99)} / ${us(t.unpreempted.max)}`;
  row([
    r.policy,
    `${(100 * r.decisionShare).toFixed(0)} %`,
    `${us(r.heartbeat.unpreempted.p50)} / ${u(r.heartbeat)}`,
    u(r.inflightUpdate),
    u(r.peerSync),
    u(r.timers),
    `${r.gc.count}, ${r.gc.totalMs.toFixed(1)}, ${r.gc.maxMs.toFixed(1)}`,
    r.cachedShare === null ? '–' : `${(100 * r.cachedShare).toFixed(0)} %`,
    r.meanPromptBlocks.toFixed(0),
    r.picks,
  ]);
}
writeFileSync(o.out, `${JSON.stringify({ node: process.version, loadAverage: { before: loadBefore, after: loadAverage1() }, options: o, rows }, null, 2)}\n`);
process.stdout.write(`\nwrote ${o.out}\n`);
