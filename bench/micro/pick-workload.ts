// The workload of the pick micro-benchmark: a fleet's heartbeats, and requests whose prefix
// chains share what a real trace's do. The Mooncake traces (FAST '25) give each request the hash
// ids of its prompt's blocks; requests share them through common system prompts and through the
// turns of a conversation, each turn's prompt being the previous one plus the new exchange. Here
// a few system prompts are drawn by Zipf popularity, and each conversation grows turn by turn
// towards its final length; block hashes are random 64-bit values, shared exactly where prompts
// share a prefix (what the prefix index's chained hashes would give). Seeded: the same options
// give the same requests.
import type { Heartbeat } from '../../proto/heartbeat.ts';
import type { PrefixIndex } from '../../scheduler/prefix-index.ts';
import { type Random, standardNormal, substream, uniformInt } from '../lib/prng.ts';

export const MODEL = 'bench-model';

/** Worker `i`'s id (sorted ids follow `i`). */
export function workerId(i: number): string {
  return `w${String(i).padStart(5, '0')}`;
}

/** Worker `i`'s heartbeat: 8 workers per agent, as on a node of 8 GPUs. */
export function heartbeat(i: number, seq: number, sentAt: number, intervalMs: number, load: { running: number; waiting: number; kvUsage: number }): Heartbeat {
  const node = Math.floor(i / 8);
  return {
    v: 1,
    id: workerId(i),
    agent: `agent-${node}`,
    url: `http://10.${(node >> 8) & 255}.${node & 255}.${10 + (i % 8)}:8000`,
    region: 'bench',
    models: [MODEL],
    role: 'both',
    connector: { kind: 'none' },
    state: 'ready',
    load,
    kv: { blockSize: 16, numBlocks: 30_000 },
    seq,
    sentAt,
    intervalMs,
  };
}

export interface WorkloadOptions {
  readonly seed: number;
  /** Mean of a conversation's final prompt length, in prefix-index blocks. */
  readonly promptBlocks: number;
  /** Conversations in progress at once (each request continues one of them). */
  readonly conversations: number;
  readonly systemPrompts: number;
}

export interface BenchRequest {
  /** The conversation's id: the routing key the ingress derives from a session. */
  readonly session: string;
  readonly chain: readonly bigint[];
}

interface Conversation {
  readonly id: string;
  /**
   * The final turn's blocks; earlier turns take a prefix. In a typed array: tens of thousands of
   * conversations as bigint arrays would be millions of heap objects, and the benchmark's own data
   * would make the GC pauses it reports.
   */
  readonly blocks: BigUint64Array;
  readonly system: number;
  readonly turns: number;
  turn: number;
}

/** Requests of conversations in progress, drawn one at a time. */
export class Workload {
  readonly #r: Random;
  readonly #o: WorkloadOptions;
  readonly #system: BigUint64Array[];
  /** Zipf(1) cumulative weights over the system prompts. */
  readonly #systemCdf: number[];
  readonly #live: Conversation[] = [];
  #next = 0;

  constructor(o: WorkloadOptions) {
    this.#o = o;
    this.#r = substream(o.seed, 'workload');
    // System prompts of 256 to 2,048 tokens (8 to 64 blocks of 32 tokens).
    this.#system = Array.from({ length: o.systemPrompts }, () => this.#blocks(uniformInt(this.#r, 8, 64)));
    let sum = 0;
    const w = this.#system.map((_, k) => (sum += 1 / (k + 1)));
    this.#systemCdf = w.map((x) => x / sum);
    for (let i = 0; i < o.conversations; i++) this.#live.push(this.#conversation());
  }

  /** The next request: a turn of a random conversation in progress (a finished one is replaced). */
  next(): BenchRequest {
    const k = Math.floor(this.#r() * this.#live.length);
    const c = this.#live[k]!;
    c.turn++;
    const sys = this.#system[c.system]!.length;
    const len = sys + Math.ceil(((c.blocks.length - sys) * c.turn) / c.turns);
    if (c.turn >= c.turns) this.#live[k] = this.#conversation();
    // A fresh array of fresh bigints per request, as hashing its prompt would make.
    return { session: c.id, chain: Array.from(c.blocks.subarray(0, len)) };
  }

  #conversation(): Conversation {
    const system = this.#systemCdf.findIndex((x) => this.#r() <= x);
    const sys = this.#system[system === -1 ? 0 : system]!;
    // Log-normal final length (σ 0.6) with the requested mean.
    const sigma = 0.6;
    const total = Math.max(sys.length + 1, Math.min(8192, Math.round(this.#o.promptBlocks * Math.exp(sigma * standardNormal(this.#r) - (sigma * sigma) / 2))));
    const blocks = new BigUint64Array(total);
    blocks.set(sys);
    blocks.set(this.#blocks(total - sys.length), sys.length);
    return { id: `conv-${this.#next++}`, blocks, system: system === -1 ? 0 : system, turns: uniformInt(this.#r, 1, 8), turn: 0 };
  }

  #blocks(n: number): BigUint64Array {
    const out = new BigUint64Array(n);
    for (let i = 0; i < n; i++) out[i] = (BigInt(Math.floor(this.#r() * 2 ** 32)) << 32n) | BigInt(Math.floor(this.#r() * 2 ** 32));
    return out;
  }
}

/**
 * Fills the index to `blocks` blocks: each request lands on its conversation's home worker most of
 * the time (a sticky router), else on any worker, as a fleet's caches look after a while of traffic.
 */
export function fillPrefixIndex(index: PrefixIndex, ids: readonly string[], workload: Workload, blocks: number, seed: number): number {
  const r = substream(seed, 'fill');
  const home = new Map<string, number>();
  let inserted = 0;
  for (let i = 0; ; i++) {
    if (i % 256 === 0 && index.size >= blocks) return inserted;
    const q = workload.next();
    let h = home.get(q.session);
    if (h === undefined) {
      h = Math.floor(r() * ids.length);
      home.set(q.session, h);
    }
    const w = r() < 0.8 ? h : Math.floor(r() * ids.length);
    index.insert(ids[w]!, q.chain);
    inserted++;
    // Bounded: the benchmark has no use for conversations long over.
    if (home.size > 100_000) home.clear();
  }
}
