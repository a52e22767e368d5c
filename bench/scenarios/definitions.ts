// The fleets and workloads of the vLLM Router announcement's comparison (https://blog.vllm.ai/2025/12/13/vllm-router-release.html),
// reproduced on simulated workers, and the systems compared on each. Data only.
import type { ProfileName } from '../../sim/profiles.ts';
import type { WorkloadInput } from '../loadgen/workloads.ts';

export interface SystemDef {
  readonly name: string;
  /** `nginx`: a Kubernetes-Service-like round robin over every pod as a plain replica (P/D unaware). */
  readonly kind: 'nginx' | 'router';
  /** Router policies: default, prefill pool, decode pool. */
  readonly policy?: string;
  readonly prefillPolicy?: string;
  readonly decodePolicy?: string;
  /** More scheduler flags. */
  readonly schedulerArgs?: readonly string[];
  /** How often agents report the workers' load (ms of the fleet's time); 200 unless the system's original polls faster. */
  readonly heartbeatMs?: number;
  readonly note: string;
}

export interface ScenarioDef {
  readonly name: string;
  readonly title: string;
  readonly profile: ProfileName;
  readonly prefill: number;
  readonly decode: number;
  /**
   * Every simulated duration × this (sim/profiles.ts `dilated`), offered rates ÷ this: the
   * same queueing in scaled time, with the simulator emitting this many times fewer tokens per
   * second. Reported latencies are ÷ this and rates × this, i.e. in the fleet's own time.
   */
  readonly timeScale: number;
  /** The time scale of --quick (a smoke run: it may load the machine more than a full run should). */
  readonly quickTimeScale: number;
  readonly workload: WorkloadInput;
  /** A shorter workload for --quick (which must finish in under 3 minutes). */
  readonly quickWorkload: WorkloadInput;
  /** Offered rates in the fleet's own time (req/s), full and --quick sweeps. */
  readonly rates: readonly number[];
  readonly quickRates: readonly number[];
  /**
   * Per point, in the fleet's own seconds: unmeasured arrivals at the offered rate first (batches
   * and queues fill over a request's lifetime: a window opened on an empty fleet measures a load it
   * never carries), then the measured window. Full and --quick.
   */
  readonly warmupS: number;
  readonly windowS: number;
  readonly quickWarmupS: number;
  readonly quickWindowS: number;
  /** What the announcement claims for this shape of fleet. */
  readonly claims: readonly string[];
  /**
   * A rate counts as sustained when every request succeeded and TTFT p99 stayed within this
   * (open-loop arrivals: a system past saturation queues, and its TTFT grows without bound).
   */
  readonly sloTtftP99Ms: number;
  /**
   * A request still unanswered this long after it was sent (fleet seconds) fails: an overloaded
   * system's queue grows without bound, and a point must end. Well above a request's lifetime
   * at the highest sustainable rate.
   */
  readonly requestTimeoutS: number;
}

/** A system's sweep stops after this many offered rates in a row that it did not sustain. */
export const STOP_AFTER_UNSUSTAINED = 2;

export const SYSTEMS: readonly SystemDef[] = [
  { name: 'k8s-round-robin', kind: 'nginx', note: 'nginx round robin over all pods as plain replicas (a Kubernetes Service: P/D unaware)' },
  {
    name: 'llm-d-like',
    kind: 'router',
    policy: 'llmd',
    // llm-d's decider is prefix-based only: no serving whole when the prefill pool is backed up.
    schedulerArgs: ['--pd-local-margin-tokens', '-1'],
    // llm-d's scorers read metrics it scrapes every 50 ms (--refresh-metrics-interval).
    heartbeatMs: 50,
    note: "P/D with llm-d's default scorers (prefix 3, queue 2, KV 2) for both pools and its prefix-based decider",
  },
  { name: 'router-consistent-hash', kind: 'router', policy: 'consistent_hash', note: "P/D, consistent hashing in both pools (the vLLM Router's recommended policy)" },
  {
    name: 'router-best',
    kind: 'router',
    policy: 'least_load',
    note: 'P/D, least_load in both pools: prefill to the shortest queue of prompt tokens, decode to the least KV held, from load the router predicts itself',
  },
];

export const SCENARIOS: readonly ScenarioDef[] = [
  {
    name: 'llama-8p8d',
    title: 'Llama 3.1 8B, 8 prefill + 8 decode (H100)',
    profile: 'llama-3.1-8b-h100',
    prefill: 8,
    decode: 8,
    timeScale: 8,
    quickTimeScale: 4,
    // The vLLM Router's own 8P+8D runs used 1000-token prompts (and 1000-token answers; 512 here
    // keeps a sweep within an hour on two cores).
    workload: { kind: 'random', inputLen: 1000, outputLen: 512, rangeRatio: 0.2 },
    quickWorkload: { kind: 'random', inputLen: 1000, outputLen: 96, rangeRatio: 0.2 },
    rates: [100, 150, 175, 200, 250, 300],
    quickRates: [150],
    warmupS: 8,
    windowS: 15,
    quickWarmupS: 1.5,
    quickWindowS: 3,
    claims: ['vLLM Router: +25 % req/s over llm-d, +100 % over a K8s round-robin Service', 'vLLM Router TTFT close to K8s round robin, 1,200 ms below llm-d'],
    sloTtftP99Ms: 1000,
    requestTimeoutS: 90,
  },
  {
    name: 'deepseek-1p1d',
    title: 'DeepSeek V3, 1 prefill + 1 decode (TP8, H200)',
    profile: 'deepseek-v3-tp8-h200',
    prefill: 1,
    decode: 1,
    timeScale: 0.5,
    quickTimeScale: 0.5,
    workload: { kind: 'random', inputLen: 2000, outputLen: 512, rangeRatio: 0.2 },
    quickWorkload: { kind: 'random', inputLen: 2000, outputLen: 64, rangeRatio: 0.2 },
    rates: [2, 2.5, 3, 3.5, 4, 4.5],
    quickRates: [2],
    warmupS: 30,
    windowS: 60,
    quickWarmupS: 10,
    quickWindowS: 20,
    claims: ['vLLM Router: req/s close to llm-d, +100 % over a K8s round-robin Service', 'vLLM Router TTFT 2,000 ms below both'],
    sloTtftP99Ms: 5000,
    requestTimeoutS: 400,
  },
];
