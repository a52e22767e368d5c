// The capacity benchmark's verdict and report: PASS when both mean ITLs (the client's and the
// simulator's own histogram) are within the tolerance of the cost model and no request failed;
// the Markdown table for the console and the JSON document for bench/results/.
import { cpus } from 'node:os';
import type { ClientResult } from './client.ts';
import type { Options } from './options.ts';

export interface Verdict {
  readonly pass: boolean;
  /** Client-measured and simulator-reported mean ITL against the cost model's, in %. */
  readonly devClient: number;
  readonly devSim: number;
}

function pct(a: number, b: number): number {
  return ((a - b) / b) * 100;
}

export function verdict(o: Options, r: ClientResult): Verdict {
  const devClient = pct(r.clientItlMs, r.costModelItlMs);
  const devSim = pct(r.simItlMs, r.costModelItlMs);
  return { pass: Math.abs(devClient) <= o.tolerancePct && Math.abs(devSim) <= o.tolerancePct && r.requestErrors === 0, devClient, devSim };
}

export function capacityTable(o: Options, r: ClientResult, { pass, devClient, devSim }: Verdict): string {
  const rows: [string, string][] = [
    ['Workers / streams', `${o.workers} / ${o.streams} (profile ${o.profile}, prompt ${o.promptTokens}, max_tokens ${o.maxTokens}, ignore_eos)`],
    ['Window', `${r.windowS} s after ${o.warmup} s warm-up; ${r.requestsCompleted} requests completed, ${r.requestErrors} errors`],
    ['Tokens/s delivered (client)', r.tokens / r.windowS >= 1000 ? `${Math.round(r.tokens / r.windowS).toLocaleString('en-US')}` : (r.tokens / r.windowS).toFixed(1)],
    ['Tokens/s generated (sim)', Math.round(r.simTokPerS).toLocaleString('en-US')],
    ['Mean running per worker', r.meanRunningPerWorker.toFixed(1)],
    ['Mean client ITL', `${r.clientItlMs.toFixed(3)} ms (${r.gapSamples.toLocaleString('en-US')} gaps)`],
    ['Mean simulated ITL (vllm:inter_token_latency_seconds)', `${r.simItlMs.toFixed(3)} ms (${r.simItlSamples.toLocaleString('en-US')} samples)`],
    ['Cost-model ITL (Δ busyMs / Δ steps, token-weighted)', `${r.costModelItlMs.toFixed(3)} ms`],
    ['Cost-model ITL (stepDurationMs at sampled batch/KV)', `${r.costModelSampledItlMs.toFixed(3)} ms (mean ctx ${Math.round(r.meanContextPerSeq)} tokens)`],
    ['Deviation client / sim vs cost model', `${devClient >= 0 ? '+' : ''}${devClient.toFixed(2)} % / ${devSim >= 0 ? '+' : ''}${devSim.toFixed(2)} %`],
    ['Sim process CPU (one core = 100 %)', `${r.simCpuPct.toFixed(1)} %`],
    [
      'Other processes / IRQ+softirq on the sim core',
      r.otherOnSimCorePct === null || r.irqOnSimCorePct === null
        ? 'n/a'
        : `${r.otherOnSimCorePct.toFixed(1)} % / ${r.irqOnSimCorePct.toFixed(1)} %${r.otherOnSimCorePct > 5 ? ' (contended: other processes shared the core)' : ''}`,
    ],
    ['Client process CPU', `${r.clientCpuPct.toFixed(1)} %`],
    ['Sim busy fraction (simulated busy / wall, per worker)', `${(r.busyFraction * 100).toFixed(1)} %`],
    ['Max engine-loop lag (at window start / end)', `${r.maxLagMsAtStart.toFixed(1)} / ${r.maxLagMsAtEnd.toFixed(1)} ms`],
    ['Result', `${pass ? 'PASS' : 'FAIL'} (|mean ITL − cost model| ≤ ${o.tolerancePct} %, no request errors)`],
  ];
  return `${['| Metric | Value |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n')}\n`;
}

export function capacityJson(o: Options, r: ClientResult, { pass, devClient, devSim }: Verdict, pinned: boolean): object {
  return {
    command: `node --import tsx bench/capacity/capacity.ts --workers ${o.workers} --streams ${o.streams} --seconds ${o.seconds}`,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version, pinned, simCore: o.simCore, clientCore: o.clientCore },
    options: o,
    result: {
      pass,
      workers: o.workers,
      streams: o.streams,
      tokensPerSecondDelivered: r.tokens / r.windowS,
      tokensPerSecondGenerated: r.simTokPerS,
      meanClientItlMs: r.clientItlMs,
      meanSimItlMs: r.simItlMs,
      costModelItlMs: r.costModelItlMs,
      costModelSampledItlMs: r.costModelSampledItlMs,
      deviationClientPct: devClient,
      deviationSimPct: devSim,
      simCpuPct: r.simCpuPct,
      otherProcessesOnSimCorePct: r.otherOnSimCorePct,
      contended: (r.otherOnSimCorePct ?? 0) > 5,
      irqOnSimCorePct: r.irqOnSimCorePct,
      clientCpuPct: r.clientCpuPct,
      maxLagMs: r.maxLagMsAtEnd,
      maxLagMsAtWindowStart: r.maxLagMsAtStart,
    },
    detail: r,
  };
}
