// Runs one scenario of definitions.ts: a simulated P/D fleet (prefill and decode workers, time-
// dilated), then each system in turn in front of it (nginx round robin, or the router with a
// policy), each swept up the same offered rates with the same seeded workload until it fails to
// sustain two rates in a row. Each point sends a warm-up at its rate before the measured window
// (steady state), and records how busy the machine's CPUs were during the window: everything is
// co-located on one machine, and a point that saturated it measures the machine, not the system.
// Between systems and points the workers' prefix caches are emptied and their queues drained.
// Results: JSON, a Markdown table, charts (SVG), all in the fleet's own time.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writeSweepCharts, type SweepPoint } from '../loadgen/charts.ts';
import { runLoad } from '../loadgen/run.ts';
import type { BenchSummary } from '../loadgen/summary.ts';
import { ensureNginx, startNginx } from '../lib/nginx.ts';
import { machineSeconds } from '../lib/procfs.ts';
import { cpus } from 'node:os';
import { freePort, freePortRange, startChild, stopChild, tcpAnswers, waitFor, type Child } from '../lib/procs.ts';
import { startNats } from '../lib/nats-server.ts';
import { waitForModel } from '../lib/router.ts';
import { PROFILES } from '../../sim/profiles.ts';
import { STOP_AFTER_UNSUSTAINED, type ScenarioDef, type SystemDef } from './definitions.ts';
import { sustained } from './table.ts';

export interface ScenarioOptions {
  readonly root: string;
  readonly quick: boolean;
  readonly outDir: string;
  readonly seed: number;
  readonly log: (s: string) => void;
  /** Only these systems (names); all when empty. */
  readonly systems: readonly SystemDef[];
  /**
   * An earlier result of the same scenario, measured the same way: its systems that this run does
   * not measure are kept (re-measuring one system without re-running the others).
   */
  readonly mergeWith?: ScenarioResult | null;
}

export interface ScenarioPoint {
  readonly offeredRate: number;
  readonly summary: BenchSummary;
  /** Share of the machine's CPU time (all cores, IRQ included) busy during the measured window, 0–1. */
  readonly cpuBusy?: number;
}

export interface SystemResult {
  readonly system: string;
  readonly note: string;
  readonly points: readonly ScenarioPoint[];
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly title: string;
  readonly quick: boolean;
  readonly timeScale: number;
  readonly workload: unknown;
  readonly systems: readonly SystemResult[];
  readonly claims: readonly string[];
  readonly sloTtftP99Ms: number;
  /** Fleet seconds of warm-up and of measured window per point. */
  readonly warmupS: number;
  readonly windowS: number;
}

/** A summary measured against a dilated fleet, in the fleet's own time. */
export function undilate(s: BenchSummary, k: number): BenchSummary {
  const out: Record<string, number> = { ...s };
  for (const [key, v] of Object.entries(s)) {
    if (key.endsWith('_ms')) out[key] = v / k;
    else if (key.endsWith('_throughput') || key === 'max_output_tokens_per_s') out[key] = v * k;
  }
  out.duration = s.duration / k;
  return out as BenchSummary;
}

interface Fleet {
  readonly prefill: string[];
  readonly decode: string[];
  readonly children: Child[];
  /** Every simulated duration × this; the wall clock runs this much slower than the fleet's. */
  readonly timeScale: number;
}

async function startFleet(s: ScenarioDef, root: string, timeScale: number): Promise<Fleet> {
  const bin = join(root, 'bin', 'llm-router.js');
  const children: Child[] = [];
  const start = async (role: 'prefill' | 'decode', n: number): Promise<string[]> => {
    const base = await freePortRange(n);
    const child = startChild(
      `sim-${role}`,
      process.execPath,
      [bin, 'sim', '--workers', String(n), '--base-port', String(base), '--role', role, '--profile', s.profile, '--time-scale', String(timeScale)],
      { cwd: root },
    );
    children.push(child);
    await waitFor(`${n} ${role} workers`, () => tcpAnswers(base + n - 1), 30_000, child);
    return Array.from({ length: n }, (_, i) => `http://127.0.0.1:${base + i}`);
  };
  return { prefill: await start('prefill', s.prefill), decode: await start('decode', s.decode), children, timeScale };
}

async function post(url: string): Promise<void> {
  const r = await request(url, { method: 'POST', headersTimeout: 5000, bodyTimeout: 5000 });
  await r.body.dump();
}

/** Empties every worker's prefix cache and waits until nothing runs or waits. */
async function resetFleet(urls: readonly string[]): Promise<void> {
  await waitFor(
    'the workers to drain',
    async () => {
      const states = await Promise.all(urls.map(async (u) => (await (await request(`${u}/_sim/state`)).body.json()) as { running: number; waiting: number; kv: { leases: number } }));
      return states.every((x) => x.running === 0 && x.waiting === 0);
    },
    600_000,
  );
  await Promise.all(urls.map((u) => post(`${u}/reset_prefix_cache`)));
}

/** Starts a system in front of the fleet; resolves its URL and a stop function. */
async function startSystem(sys: SystemDef, fleet: Fleet, root: string, model: string, log: (s: string) => void): Promise<{ url: string; stop(): Promise<void> }> {
  const all = [...fleet.prefill, ...fleet.decode];
  if (sys.kind === 'nginx') {
    const n = await startNginx(ensureNginx(log), await freePort(), all, null);
    return { url: n.url, stop: () => stopChild(n.child) };
  }
  const bin = join(root, 'bin', 'llm-router.js');
  const nats = await startNats(null);
  const common = ['--nats-url', nats.url, '--log-level', 'warn'];
  const node = (name: string, args: string[]): Child => startChild(name, process.execPath, [bin, ...args, ...common], { cwd: root });
  const policies = [
    '--policy',
    sys.policy ?? 'power_of_two',
    ...(sys.prefillPolicy ? ['--prefill-policy', sys.prefillPolicy] : []),
    ...(sys.decodePolicy ? ['--decode-policy', sys.decodePolicy] : []),
  ];
  const port = await freePort();
  // Not below 50 ms of wall time: faster than that, a probe of a busy worker outlasts three
  // intervals and the scheduler drops a live worker for missed beats.
  const heartbeatMs = Math.max(50, Math.round((sys.heartbeatMs ?? 200) * fleet.timeScale));
  const children = [
    node('scheduler', ['scheduler', ...policies, ...(sys.schedulerArgs ?? []), '--metrics-port', '0', '--id', `bench-${sys.name}`]),
    // Load reports every 200 ms, or as often as the original system reads them (llm-d: 50 ms), in
    // the fleet's time: as stale, relative to how fast the fleet's load moves, as they would be.
    node('agent-prefill', ['agent', '--worker', fleet.prefill.join(','), '--role', 'prefill', '--connector', 'nixl', '--interval-ms', String(heartbeatMs)]),
    node('agent-decode', ['agent', '--worker', fleet.decode.join(','), '--role', 'decode', '--connector', 'nixl', '--interval-ms', String(heartbeatMs)]),
    node('ingress', ['ingress', '--port', String(port), '--metrics-port', '0', '--id', 'bench-ingress', '--request-timeout-ms', '3600000', '--idle-timeout-ms', '3600000']),
  ];
  const url = `http://127.0.0.1:${port}`;
  await waitFor('the ingress', () => tcpAnswers(port), 30_000, children[3]);
  await waitForModel(url, model, all.length, 30_000);
  return {
    url,
    async stop() {
      for (const c of children.reverse()) await stopChild(c);
      await stopChild(nats.child);
    },
  };
}

/** Machine CPU seconds busy and elapsed (all cores), for a busy share between two readings. */
function cpuReading(): { busy: number; at: number } | null {
  const m = machineSeconds();
  return m ? { busy: m.processes + m.irq + m.steal, at: performance.now() / 1000 } : null;
}

export async function runScenario(s: ScenarioDef, o: ScenarioOptions): Promise<ScenarioResult> {
  const model = PROFILES[s.profile].model;
  const rates = o.quick ? s.quickRates : s.rates;
  const warmupS = o.quick ? s.quickWarmupS : s.warmupS;
  const windowS = o.quick ? s.quickWindowS : s.windowS;
  const k = o.quick ? s.quickTimeScale : s.timeScale;
  o.log(`${s.title}: ${s.prefill}P+${s.decode}D, time ×${k}, rates ${rates.join(', ')} req/s, ${warmupS} s warm-up + ${windowS} s window per point (fleet time)`);
  const fleet = await startFleet(s, o.root, k);
  const results: SystemResult[] = [];
  const cores = cpus().length;
  try {
    for (const sys of o.systems) {
      const started = await startSystem(sys, fleet, o.root, model, o.log);
      const points: ScenarioPoint[] = [];
      try {
        let misses = 0;
        for (const [i, rate] of rates.entries()) {
          await resetFleet([...fleet.prefill, ...fleet.decode]);
          // CPU is read over the measured window only (the warm-up's end to the window's).
          let from: ReturnType<typeof cpuReading> = null;
          let to: ReturnType<typeof cpuReading> = null;
          const t1 = setTimeout(() => (from = cpuReading()), warmupS * k * 1000);
          const t2 = setTimeout(() => (to = cpuReading()), (warmupS + windowS) * k * 1000);
          const r = await runLoad({
            baseUrl: started.url,
            model,
            workload: o.quick ? s.quickWorkload : s.workload,
            // Fresh prompts at every rate (the same ones for every system at that rate): a router keeps
            // its prefix index across points while the workers' caches are emptied between them, and
            // prompts seen at the previous rate would look cached where they are not.
            seed: o.seed * 1000 + i,
            requestRate: rate / k,
            warmupS: warmupS * k,
            durationS: windowS * k,
            requestTimeoutS: s.requestTimeoutS * k,
          }).finally(() => {
            clearTimeout(t1);
            clearTimeout(t2);
          });
          const a = from as ReturnType<typeof cpuReading>;
          const b = to as ReturnType<typeof cpuReading>;
          const cpuBusy = a && b && b.at > a.at ? Math.min(1, (b.busy - a.busy) / ((b.at - a.at) * cores)) : undefined;
          const summary = undilate(r.summary, k);
          const point: ScenarioPoint = { offeredRate: rate, summary, ...(cpuBusy !== undefined ? { cpuBusy } : {}) };
          points.push(point);
          o.log(
            `  ${sys.name} @ ${rate} req/s: ${summary.completed} measured, TTFT p50/p99 ${summary.median_ttft_ms.toFixed(0)}/${summary.p99_ttft_ms.toFixed(0)} ms, ITL p50/p99 ${summary.median_itl_ms.toFixed(1)}/${summary.p99_itl_ms.toFixed(1)} ms, failed ${summary.failed}, CPU ${cpuBusy === undefined ? '?' : `${(cpuBusy * 100).toFixed(0)} %`}`,
          );
          misses = sustained(point, s.sloTtftP99Ms) ? 0 : misses + 1;
          if (misses >= STOP_AFTER_UNSUSTAINED) {
            o.log(`  ${sys.name}: ${misses} rates in a row not sustained; its sweep ends here`);
            break;
          }
        }
      } finally {
        await started.stop();
      }
      results.push({ system: sys.name, note: sys.note, points });
    }
  } finally {
    for (const c of fleet.children) await stopChild(c);
  }
  const merged = o.mergeWith ? mergeSystems(o.mergeWith.systems, results) : results;
  const result: ScenarioResult = {
    scenario: s.name,
    title: s.title,
    quick: o.quick,
    timeScale: k,
    workload: o.quick ? s.quickWorkload : s.workload,
    systems: merged,
    claims: s.claims,
    sloTtftP99Ms: s.sloTtftP99Ms,
    warmupS,
    windowS,
  };
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(join(o.outDir, `${s.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const sweep: SweepPoint[] = merged.flatMap((r) => r.points.map((p) => ({ system: r.system, offeredRate: p.offeredRate, summary: p.summary })));
  await writeSweepCharts(sweep, join(o.outDir, s.name), { prefix: s.name, subtitle: s.title });
  return result;
}

/** The earlier systems in their order, each replaced by its new measurement; new ones after them. */
export function mergeSystems(earlier: readonly SystemResult[], now: readonly SystemResult[]): SystemResult[] {
  const fresh = new Map(now.map((r) => [r.system, r]));
  const out = earlier.map((r) => fresh.get(r.system) ?? r);
  for (const r of now) if (!earlier.some((e) => e.system === r.system)) out.push(r);
  return out;
}

/** Whether an earlier result was measured as `s` would measure it now (so that systems may be mixed). */
export function comparable(earlier: ScenarioResult, s: ScenarioDef, quick: boolean): boolean {
  const k = quick ? s.quickTimeScale : s.timeScale;
  return (
    earlier.scenario === s.name &&
    earlier.quick === quick &&
    earlier.timeScale === k &&
    earlier.sloTtftP99Ms === s.sloTtftP99Ms &&
    earlier.warmupS === (quick ? s.quickWarmupS : s.warmupS) &&
    earlier.windowS === (quick ? s.quickWindowS : s.windowS) &&
    JSON.stringify(earlier.workload) === JSON.stringify(quick ? s.quickWorkload : s.workload)
  );
}
