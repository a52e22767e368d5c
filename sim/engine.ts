// The simulated vLLM V1 engine: continuous batching in steps. Each step schedules running
// sequences first (one token each, or the next chunk of a prompt), then admits waiting requests
// FCFS while the token budget (`max_num_batched_tokens`), `max_num_seqs` and free KV blocks allow;
// when a running sequence needs a block and none is free, the newest running sequence is
// preempted (its blocks freed, recomputed later). A step lasts as long as the profile's cost
// model says, so TTFT grows with uncached prompt tokens and queueing, and ITL grows with the batch
// and spikes when a prefill chunk shares the step. vLLM: vllm/v1/core/sched/scheduler.py.
import { BlockPool } from './block-pool.ts';
import type { Clock } from './clock.ts';
import { stepDurationMs, type Profile, type StepShape } from './profiles.ts';

export const FINISH_REASONS = ['stop', 'length', 'abort', 'error'] as const;
export type FinishReason = (typeof FINISH_REASONS)[number];

export interface TokenEvent {
  /** Output index, from 0. */
  readonly index: number;
  /** Simulated time of the step that produced it. */
  readonly at: number;
  /** Set when this token ends the sequence by itself (max_tokens reached, or EOS). */
  readonly ending: 'stop' | 'length' | null;
  /** See {@link FinishOutcome.cachedTokens}. */
  readonly cachedTokens: number;
}

export interface TokenSink {
  /** A new output token. Return true to end the sequence here with "stop" (a stop string matched). */
  token(t: TokenEvent): boolean;
  /** The sequence ended (once per request). */
  finish(reason: FinishReason, at: number, outcome: FinishOutcome): void;
}

export interface FinishOutcome {
  /** Prompt tokens not computed here when first scheduled: local prefix-cache hits plus KV pulled from a remote worker, as vLLM reports `num_cached_tokens`. */
  readonly cachedTokens: number;
  /** When the engine first scheduled the request (end of queueing), or undefined if it never ran. */
  readonly scheduledAt: number | undefined;
  /** Set when the request asked to keep its KV (NIXL prefill side); the caller releases them. */
  readonly heldBlocks?: readonly number[];
}

/** Decode side of P/D: the prompt's KV comes from another worker instead of being computed here. */
export interface RemoteKvSource {
  /**
   * Starts the pull into `blocks`; resolves true when the KV has landed, false when it could not
   * be loaded. The first `localTokens` of the prompt are already in this worker's prefix cache:
   * vLLM's connectors load only the rest (NIXL reads only the blocks past the local hits).
   */
  load(blocks: readonly number[], promptTokens: number, localTokens: number): Promise<boolean>;
  /** What to do when the load fails: compute the prompt locally, or end the request with an error. */
  readonly onFailure: 'recompute' | 'fail';
}

export interface NewRequest {
  readonly id: string;
  readonly promptTokens: readonly number[];
  /** Prefix hashes of the prompt's full blocks (see block-hash.ts). */
  readonly blockHashes: readonly bigint[];
  readonly maxTokens: number;
  readonly minTokens: number;
  /** Output index at which the model would emit EOS; Infinity with `ignore_eos`. */
  readonly eosAt: number;
  readonly sink: TokenSink;
  /** Keep the KV blocks after finishing instead of freeing them (the caller releases them later). */
  readonly holdKvOnFinish?: boolean;
  readonly remoteKv?: RemoteKvSource;
  /** Under the `priority` policy, a lower number is admitted first (default 0). */
  readonly priority?: number;
}

type State = 'waiting' | 'loading_remote_kv' | 'running' | 'finished';

class Sequence {
  readonly req: NewRequest;
  state: State = 'waiting';
  blocks: number[] = [];
  numComputed = 0;
  outputCount = 0;
  /** Prompt tokens found in the prefix cache when the request was first scheduled. */
  cachedTokens = 0;
  scheduledOnce = false;
  scheduledAt: number | undefined;
  registeredBlocks = 0;
  remoteLoaded = false;
  /** The remote pull was started once; after a preemption the prompt is recomputed locally, never pulled again. */
  remoteTried = false;
  /** Prompt tokens found in the local prefix cache when a remote pull started (not pulled). */
  localHitTokens = 0;
  constructor(req: NewRequest) {
    this.req = req;
  }
  get numTokens(): number {
    return this.req.promptTokens.length + this.outputCount;
  }
}

export interface EngineOptions {
  readonly profile: Profile;
  readonly clock: Clock;
  readonly numGpuBlocks?: number;
  readonly maxNumSeqs?: number;
  readonly maxNumBatchedTokens?: number;
  /** vLLM's --scheduling-policy: first come first served (default), or by request priority. */
  readonly schedulingPolicy?: 'fcfs' | 'priority';
}

/** Counters a real vLLM exports as metrics, plus what tests need to see inside the engine. */
export interface EngineStats {
  promptTokens: number;
  generationTokens: number;
  prefixQueries: number;
  prefixHits: number;
  preemptions: number;
  /** Prompt tokens this engine actually computed (not cached, not pulled from a remote worker). */
  promptTokensComputed: number;
  remoteKvTokensLoaded: number;
  remoteKvLoadFailures: number;
  steps: number;
  /** Sum of simulated step durations, and how far behind the wall clock the loop has fallen (real clock only). */
  busyMs: number;
  maxLagMs: number;
  finished: Record<FinishReason, number>;
}

/** Beyond this lag the loop stops catching up and restarts its timeline from now. */
const MAX_CATCH_UP_MS = 250;

export class Engine {
  readonly profile: Profile;
  readonly pool: BlockPool;
  readonly maxNumSeqs: number;
  readonly maxNumBatchedTokens: number;
  readonly schedulingPolicy: 'fcfs' | 'priority';
  readonly stats: EngineStats = {
    promptTokens: 0,
    generationTokens: 0,
    prefixQueries: 0,
    prefixHits: 0,
    preemptions: 0,
    promptTokensComputed: 0,
    remoteKvTokensLoaded: 0,
    remoteKvLoadFailures: 0,
    steps: 0,
    busyMs: 0,
    maxLagMs: 0,
    finished: { stop: 0, length: 0, abort: 0, error: 0 },
  };
  /** Observers of each step (metrics): iteration tokens and duration. */
  onStep: ((tokens: number, durationMs: number) => void) | undefined;

  #clock: Clock;
  #waiting: Sequence[] = [];
  #running: Sequence[] = [];
  #loading = new Set<Sequence>();
  #byId = new Map<string, Sequence>();
  #stepping = false;

  constructor(opts: EngineOptions) {
    this.profile = opts.profile;
    this.#clock = opts.clock;
    this.pool = new BlockPool(opts.numGpuBlocks ?? opts.profile.numGpuBlocks);
    this.maxNumSeqs = opts.maxNumSeqs ?? opts.profile.maxNumSeqs;
    this.maxNumBatchedTokens = opts.maxNumBatchedTokens ?? opts.profile.maxNumBatchedTokens;
    this.schedulingPolicy = opts.schedulingPolicy ?? 'fcfs';
  }

  get numRunning(): number {
    return this.#running.length;
  }

  /** vLLM counts requests waiting for remote KV as waiting. */
  get numWaiting(): number {
    return this.#waiting.length + this.#loading.size;
  }

  get blockSize(): number {
    return this.profile.blockSize;
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** Queues a request. Ids must be unique among live requests. */
  add(req: NewRequest): void {
    if (this.#byId.has(req.id)) throw new Error(`duplicate request id ${req.id}`);
    const seq = new Sequence(req);
    this.#byId.set(req.id, seq);
    if (this.schedulingPolicy === 'priority') {
      // Behind every waiting request of the same or a more urgent priority, ahead of the rest
      // (vLLM orders its waiting queue by priority, then arrival).
      const p = req.priority ?? 0;
      const at = this.#waiting.findIndex((w) => (w.req.priority ?? 0) > p);
      if (at < 0) this.#waiting.push(seq);
      else this.#waiting.splice(at, 0, seq);
    } else this.#waiting.push(seq);
    this.#kick();
  }

  /** Client went away: free the sequence's blocks and count it as aborted. */
  abort(id: string): boolean {
    const seq = this.#byId.get(id);
    if (!seq) return false;
    this.#finish(seq, 'abort', this.#clock.now());
    return true;
  }

  /** Releases blocks that a finished request kept (see {@link NewRequest.holdKvOnFinish}). */
  releaseBlocks(blocks: readonly number[]): void {
    this.pool.release(blocks);
    this.#kick();
  }

  #kick(): void {
    if (this.#stepping) return;
    this.#step(this.#clock.now());
  }

  #step(startAt: number): void {
    const plan = this.#schedule();
    if (plan.length === 0) {
      this.#stepping = false;
      return;
    }
    this.#stepping = true;
    const shape = shapeOf(plan);
    const duration = stepDurationMs(this.profile, shape);
    const endAt = startAt + duration;
    this.stats.steps++;
    this.stats.busyMs += duration;
    this.onStep?.(shape.prefillTokens + shape.decodeSeqs, duration);
    this.#clock.after(endAt - this.#clock.now(), () => {
      this.#complete(plan, endAt);
      const now = this.#clock.now();
      const lag = now - endAt;
      if (lag > this.stats.maxLagMs) this.stats.maxLagMs = lag;
      // Keep the simulated timeline exact (timer jitter must not stretch ITL), unless far behind.
      this.#step(lag > MAX_CATCH_UP_MS ? now : endAt);
    });
  }

  #schedule(): Planned[] {
    const plan: Planned[] = [];
    let budget = this.maxNumBatchedTokens;
    let preempted = false;
    const bs = this.blockSize;

    for (let i = 0; i < this.#running.length && budget > 0; i++) {
      const seq = this.#running[i]!;
      const n = Math.min(seq.numTokens - seq.numComputed, budget);
      let need = Math.ceil((seq.numComputed + n) / bs) - seq.blocks.length;
      let self = false;
      while (need > 0) {
        const got = this.pool.allocate(need);
        if (got) {
          seq.blocks.push(...got);
          need = 0;
          break;
        }
        const victim = this.#running[this.#running.length - 1]!;
        this.#preempt(victim);
        preempted = true;
        if (victim === seq) {
          self = true;
          break;
        }
      }
      if (self) break;
      plan.push({ seq, n, decode: seq.outputCount > 0 && n === 1 && seq.numComputed === seq.numTokens - 1 });
      this.#cacheFullBlocks(seq, seq.numComputed + n);
      budget -= n;
    }

    // vLLM admits nothing new in a step that had to preempt.
    while (!preempted && budget > 0 && this.#waiting.length > 0 && this.#running.length < this.maxNumSeqs) {
      const seq = this.#waiting[0]!;
      if (seq.req.remoteKv && !seq.remoteTried && seq.blocks.length === 0) {
        if (!this.#startRemoteLoad(seq)) break;
        this.#waiting.shift();
        continue;
      }
      let hits: number[] = [];
      if (seq.blocks.length === 0) {
        const maxHit = Math.floor((seq.numTokens - 1) / bs);
        hits = this.pool.longestCachedPrefix(seq.req.blockHashes.slice(0, maxHit));
        this.pool.acquire(hits);
      }
      const computed = seq.blocks.length === 0 ? hits.length * bs : seq.numComputed;
      const n = Math.min(seq.numTokens - computed, budget);
      const need = Math.ceil((computed + n) / bs) - seq.blocks.length - hits.length;
      const fresh = need > 0 ? this.pool.allocate(need) : [];
      if (!fresh) {
        // Admission waits for free blocks (head of line, as vLLM's FCFS queue does).
        this.pool.release(hits);
        break;
      }
      this.#waiting.shift();
      if (seq.blocks.length === 0) {
        seq.blocks = hits.concat(fresh);
        seq.numComputed = computed;
        seq.registeredBlocks = hits.length;
      } else {
        seq.blocks.push(...fresh);
      }
      if (!seq.scheduledOnce) {
        seq.scheduledOnce = true;
        seq.scheduledAt = this.#clock.now();
        seq.cachedTokens = computed;
        this.stats.promptTokens += seq.req.promptTokens.length;
        this.stats.prefixQueries += seq.req.promptTokens.length;
        // vLLM counts local prefix-cache hits only; KV pulled through a connector is not a local hit.
        this.stats.prefixHits += seq.remoteLoaded ? seq.localHitTokens : seq.cachedTokens;
      }
      seq.state = 'running';
      this.#running.push(seq);
      plan.push({ seq, n, decode: false });
      this.#cacheFullBlocks(seq, seq.numComputed + n);
      budget -= n;
    }
    return plan;
  }

  /**
   * Makes the full prompt blocks up to `tokens` findable in the prefix cache. As vLLM's
   * allocate_slots does, this happens when a chunk is scheduled, not when it completes, so a
   * request admitted in the same step (or a later one) reuses blocks being computed now.
   */
  #cacheFullBlocks(seq: Sequence, tokens: number): void {
    const full = Math.floor(Math.min(tokens, seq.req.promptTokens.length) / this.blockSize);
    for (; seq.registeredBlocks < full; seq.registeredBlocks++) {
      const h = seq.req.blockHashes[seq.registeredBlocks];
      const id = seq.blocks[seq.registeredBlocks];
      if (h !== undefined && id !== undefined) this.pool.register(id, h);
    }
  }

  /**
   * Decode side of P/D: take the prompt's locally cached prefix, reserve blocks for the rest, then
   * wait (as "waiting") for the pull of the rest.
   */
  #startRemoteLoad(seq: Sequence): boolean {
    const remote = seq.req.remoteKv!;
    const bs = this.blockSize;
    const prompt = seq.req.promptTokens.length;
    const hits = this.pool.longestCachedPrefix(seq.req.blockHashes.slice(0, Math.floor((prompt - 1) / bs)));
    this.pool.acquire(hits);
    const fresh = this.pool.allocate(Math.ceil(prompt / bs) - hits.length);
    if (!fresh) {
      this.pool.release(hits);
      return false;
    }
    const local = hits.length * bs;
    seq.blocks = hits.concat(fresh);
    seq.registeredBlocks = hits.length;
    seq.localHitTokens = local;
    seq.remoteTried = true;
    seq.state = 'loading_remote_kv';
    this.#loading.add(seq);
    const settle = (ok: boolean): void => {
      if (seq.state !== 'loading_remote_kv') return; // aborted meanwhile
      this.#loading.delete(seq);
      seq.state = 'waiting';
      if (ok) {
        seq.remoteLoaded = true;
        // The last prompt token is recomputed locally to produce the first output token.
        seq.numComputed = prompt - 1;
        this.stats.remoteKvTokensLoaded += prompt - local;
      } else {
        this.stats.remoteKvLoadFailures++;
        if (remote.onFailure === 'fail') {
          this.#finish(seq, 'error', this.#clock.now());
          return;
        }
        // The local hits stay; only the rest is computed here.
        seq.numComputed = local;
      }
      // It already holds its blocks, so it goes ahead of requests that still need some.
      this.#waiting.unshift(seq);
      this.#kick();
    };
    remote.load(fresh, prompt, local).then(settle, () => settle(false));
    return true;
  }

  #preempt(seq: Sequence): void {
    this.#running.splice(this.#running.indexOf(seq), 1);
    this.pool.release(seq.blocks);
    seq.blocks = [];
    seq.numComputed = 0;
    seq.registeredBlocks = 0;
    seq.remoteLoaded = false;
    seq.localHitTokens = 0;
    seq.state = 'waiting';
    this.#waiting.unshift(seq);
    this.stats.preemptions++;
  }

  #complete(plan: readonly Planned[], at: number): void {
    for (const { seq, n } of plan) {
      if (seq.state !== 'running') continue; // aborted or preempted during the step
      const promptLen = seq.req.promptTokens.length;
      const before = seq.numComputed;
      seq.numComputed += n;
      if (before < promptLen && !seq.remoteLoaded) {
        this.stats.promptTokensComputed += Math.min(seq.numComputed, promptLen) - before;
      }
      if (seq.numComputed < seq.numTokens) continue; // a prompt chunk, no token yet
      const index = seq.outputCount++;
      this.stats.generationTokens++;
      const produced = index + 1;
      const ending = produced >= seq.req.maxTokens ? 'length' : produced >= seq.req.eosAt && produced >= seq.req.minTokens ? 'stop' : null;
      const stop = seq.req.sink.token({ index, at, ending, cachedTokens: seq.cachedTokens });
      if (seq.state !== 'running') continue; // the sink aborted it
      if (stop) this.#finish(seq, 'stop', at);
      else if (ending) this.#finish(seq, ending, at);
    }
  }

  #finish(seq: Sequence, reason: FinishReason, at: number): void {
    if (seq.state === 'finished') return;
    const prev = seq.state;
    seq.state = 'finished';
    this.#byId.delete(seq.req.id);
    if (prev === 'running') this.#running.splice(this.#running.indexOf(seq), 1);
    else if (prev === 'waiting') {
      const i = this.#waiting.indexOf(seq);
      if (i >= 0) this.#waiting.splice(i, 1);
    } else if (prev === 'loading_remote_kv') this.#loading.delete(seq);
    this.stats.finished[reason]++;
    const hold = seq.req.holdKvOnFinish === true && (reason === 'stop' || reason === 'length');
    if (!hold && seq.blocks.length > 0) this.pool.release(seq.blocks);
    const base = { cachedTokens: seq.cachedTokens, scheduledAt: seq.scheduledAt };
    const outcome: FinishOutcome = hold ? { ...base, heldBlocks: seq.blocks } : base;
    seq.blocks = [];
    seq.req.sink.finish(reason, at, outcome);
    // Freed blocks may let waiting requests in; a running loop picks them up at its next step.
    this.#kick();
  }
}

interface Planned {
  readonly seq: Sequence;
  readonly n: number;
  readonly decode: boolean;
}

function shapeOf(plan: readonly Planned[]): StepShape {
  let prefillTokens = 0;
  let decodeSeqs = 0;
  let contextTokens = 0;
  let attentionPairs = 0;
  for (const { seq, n, decode } of plan) {
    contextTokens += seq.numComputed + n;
    if (decode) {
      decodeSeqs++;
    } else {
      prefillTokens += n;
      attentionPairs += n * seq.numComputed + (n * (n + 1)) / 2;
    }
  }
  return { prefillTokens, decodeSeqs, contextTokens, attentionPairs };
}
