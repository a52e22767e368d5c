// The router-overhead benchmark's run (entry: run.ts, options: options.ts): the simulated workers,
// nginx and the router started once, the three phases measured through child-process load
// generators (loadgen.ts, hold.ts), then the verdicts, the Markdown report and the JSON document.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { HoldConfig, HoldResult } from './hold.ts';
import type { LoadConfig, PointResult } from './loadgen.ts';
import { ensureNginx, startNginx, type NginxArm } from '../lib/nginx.ts';
import { runTool } from '../lib/child-main.ts';
import { loadAverage1, machineSeconds, memory } from '../lib/procfs.ts';
import { aliasEntry, alive, cleanupNow, freePort, hasTaskset, installCleanupHooks, sleep, stopChild, type Child } from '../lib/procs.ts';
import { entryMode, startRouter, waitForModel, type RouterArm } from '../lib/router.ts';
import { startSim, waitIdle, type SimFleet } from './sim.ts';
import { costTable, highestTable, memoryTable, streamingTable, sweepTable, targetsTable, type ArmPoint } from './table.ts';
import { unitCost } from './cost.ts';
import { MODELS, ROOT, type Options, type Pin } from './options.ts';
import {
  ARMS,
  commonSustainedRate,
  cpuRatioTarget,
  fmt,
  GOALS,
  highestSustained,
  rssTarget,
  sustained,
  sustainRuleText,
  sweepRatioTarget,
  ttftVsNginxTarget,
  type Arm,
  type Target,
} from './verdict.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

const log = (s: string): void => {
  process.stderr.write(`overhead: ${s}\n`);
};

/** Which CPUs the load generator and everything else run on. */
function pinPlan(pin: Pin): { loadgen: string | null; rest: string | null; desc: string } {
  const n = cpus().length;
  if (pin === 'none' || n < 2 || !hasTaskset()) return { loadgen: null, rest: null, desc: 'nothing pinned' };
  const last = String(n - 1);
  if (pin === 'loadgen') return { loadgen: last, rest: null, desc: `load generator pinned to CPU ${last}; everything else unpinned` };
  const rest = n === 2 ? '0' : `0-${n - 2}`;
  return { loadgen: last, rest, desc: `load generator pinned to CPU ${last}; simulator, nginx, nats-server and the router on CPU ${rest}` };
}

/**
 * Between points only other work uses the CPUs (ours idles): waits until that stays below
 * `maxPct` % of one core for 3 consecutive seconds, or `maxWaitS` passes.
 */
async function waitForQuiet(maxPct: number, maxWaitS: number): Promise<{ quiet: boolean; otherPct: number }> {
  const deadline = Date.now() + maxWaitS * 1000;
  let calm = 0;
  let pct = NaN;
  while (Date.now() < deadline) {
    const a = machineSeconds();
    await sleep(1000);
    const b = machineSeconds();
    if (!a || !b) return { quiet: true, otherPct: NaN };
    pct = (b.processes - a.processes) * 100;
    calm = pct <= maxPct ? calm + 1 : 0;
    if (calm >= 3) return { quiet: true, otherPct: pct };
  }
  return { quiet: false, otherPct: pct };
}

const STAT_KEYS = new Set(['mean', 'p50', 'p90', 'p99', 'max', 'maxMB', 'meanMB', 'beforeMB', 'hwmMB']);

/** JSON has no NaN: a statistic of no samples comes back as null; make it NaN again. */
const statsReviver = (k: string, v: unknown): unknown => (v === null && STAT_KEYS.has(k) ? NaN : v);

/** Runs one child-process tool (loadgen.ts or hold.ts) and returns its RESULT line. */
function tool<T>(file: string, cfg: object, cpusList: string | null, timeoutS: number): Promise<T> {
  return runTool<T>(join(HERE, file), cfg, { cpus: cpusList, timeoutS, cwd: ROOT, reviver: statsReviver });
}

function requestBody(o: Options, model: string, maxTokens: number, stream: boolean): string {
  const common = { model, max_tokens: maxTokens, ignore_eos: true, stream };
  return JSON.stringify(o.route === 'chat' ? { ...common, messages: [{ role: 'user', content: 'Hello, how are you today?' }] } : { ...common, prompt: 'Hello, my name is' });
}

/** One request through `url`, checked: the stack answers before any point is measured. */
async function smoke(name: string, url: string, path: string, body: string): Promise<void> {
  const r = await request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const t = await r.body.text();
  if (r.statusCode !== 200 || !t.includes('[DONE]')) throw new Error(`${name} smoke request failed: HTTP ${r.statusCode}: ${t.slice(0, 300)}`);
}

interface Systems {
  sim: SimFleet;
  nginx: NginxArm | null;
  router: RouterArm | null;
}

function targetsOf(s: Systems, arm: Arm): string[] {
  if (arm === 'direct') return s.sim.urls;
  if (arm === 'nginx') return [s.nginx!.url];
  return [s.router!.url];
}

function cpuGroups(s: Systems): Record<string, number[]> {
  const g: Record<string, number[]> = { sim: [s.sim.child.pid] };
  if (s.nginx) g.nginx = s.nginx.pids();
  if (s.router) {
    g.nats = [s.router.nats.pid];
    g.scheduler = [s.router.scheduler.pid];
    g.ingress = [s.router.ingress.pid];
    g.agent = s.router.agents.map((a) => a.pid);
  }
  return g;
}

/** Every process of the run must still be there (something else on the machine may kill them). */
function assertAlive(s: Systems): void {
  const all: Child[] = [s.sim.child, ...(s.nginx ? [s.nginx.child] : []), ...(s.router ? [s.router.nats, s.router.scheduler, s.router.ingress, ...s.router.agents] : [])];
  for (const c of all) {
    if (!alive(c)) throw new Error(`${c.name} (pid ${c.pid}) exited (${c.proc.exitCode ?? c.proc.signalCode}) during the run:\n${c.output().slice(-2000)}`);
  }
}

/** For the progress line: what the point's work cost the system's own processes. */
function costLine(arm: Arm, p: PointResult): string {
  if (arm === 'direct') return '';
  const c = unitCost(arm, p);
  const ev = c.events > 0 ? `${fmt(c.systemPerEventUs)} µs/event, ` : '';
  const nats = c.nats ? `NATS msgs in/out ${fmt(c.nats.perRequest.msgsIn)}/${fmt(c.nats.perRequest.msgsOut)} per request, ` : '';
  return `CPU ${ev}${fmt(c.systemPerRequestUs, 0)} µs/request, ${nats}`;
}

interface PointRecord extends ArmPoint {
  readonly phase: 'baseline' | 'streaming' | 'one-token' | 'sweep';
  readonly load1AtStart: number;
  /** 0 for the first run of a point, 1… for re-runs after a contended window. */
  readonly attempt: number;
  /** The run of the point that the tables use (the least contended one). */
  kept?: boolean;
}

async function main(o: Options): Promise<number> {
  const started = Date.now();
  const pins = pinPlan(o.pin);
  const model = MODELS[o.profile]!;
  const path = o.route === 'chat' ? '/v1/chat/completions' : '/v1/completions';
  const load = { atStart: loadAverage1(), samples: [] as number[] };
  log(`${cpus().length} CPUs, load average ${load.atStart.toFixed(2)}; ${pins.desc}`);

  const nginxBin = o.arms.includes('nginx') || (o.sweep && o.sweepArms.includes('nginx')) ? ensureNginx(log) : null;
  const cliEntry = aliasEntry(join(ROOT, 'bin', 'llm-router.js'));
  const env: Record<string, string> = o.fromSource ? { LLMR_FROM_SOURCE: '1' } : {};
  const runs = o.routerEntry ? relative(ROOT, o.routerEntry) : `bin/llm-router.js, which runs ${entryMode(ROOT, o.fromSource)}`;
  log(`router processes: ${runs}`);
  const routerEntry = o.routerEntry ? aliasEntry(o.routerEntry) : cliEntry;
  const sys: Systems = { sim: await startSim({ root: ROOT, workers: o.workers, profile: o.profile, cpus: pins.rest, entry: cliEntry, env }), nginx: null, router: null };
  log(`simulator pid ${sys.sim.child.pid}: ${o.workers} × ${o.profile} at ${sys.sim.urls[0]} …`);
  if (nginxBin) {
    sys.nginx = await startNginx(nginxBin, await freePort(), sys.sim.urls, pins.rest);
    log(`nginx pid ${sys.nginx.child.pid} at ${sys.nginx.url}`);
  }
  const profFlags = [...(o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProf] : []), ...o.routerNodeArgs];
  if (o.cpuProf) mkdirSync(o.cpuProf, { recursive: true });
  sys.router = await startRouter({ root: ROOT, policy: o.policy, logLevel: 'warn', cpus: pins.rest, nodeFlags: profFlags, entry: routerEntry, env }, sys.sim.urls);
  await waitForModel(sys.router.url, model, o.workers, 30_000, sys.router.ingress);
  log(`router: ingress pid ${sys.router.ingress.pid} at ${sys.router.url}, scheduler pid ${sys.router.scheduler.pid}, nats-server pid ${sys.router.nats.pid} at ${sys.router.natsUrl}`);

  const streamBody = requestBody(o, model, o.streamTokens, true);
  for (const arm of new Set<Arm>([...o.arms, ...(o.sweep ? o.sweepArms : [])])) await smoke(arm, targetsOf(sys, arm)[0]!, path, requestBody(o, model, 4, true));

  const records: PointRecord[] = [];
  /** `tokens`: the stream's max_tokens (the SSE events it must deliver), or 0 for a JSON answer. */
  const point = async (phase: PointRecord['phase'], arm: Arm, rate: number, body: string, tokens: number, seconds = o.seconds): Promise<PointResult> => {
    assertAlive(sys);
    await waitIdle(sys.sim);
    const targets = targetsOf(sys, arm);
    const stream = tokens > 0;
    const expectedConcurrency = rate * (stream ? 1.5 : 0.5);
    const cfg: LoadConfig = {
      targets,
      path,
      body,
      stream,
      expectEvents: tokens,
      rate,
      warmupS: o.warmup,
      seconds,
      drainS: o.drain,
      connectionsPerTarget: Math.min(4096, Math.max(64, Math.ceil((expectedConcurrency * 2) / targets.length))),
      poisson: o.poisson,
      cpuOf: cpuGroups(sys),
      varzUrl: arm === 'router' ? sys.router!.natsMonitorUrl : null,
    };
    let best: PointResult | null = null;
    // A window in which other work on the machine took more than --max-other % of a core is run
    // again; the least contended run is kept.
    for (let attempt = 0; attempt <= o.retries; attempt++) {
      if (attempt > 0) {
        await waitIdle(sys.sim);
        const q = await waitForQuiet(o.maxOther, o.quietWaitS);
        log(`  ${q.quiet ? 'machine quiet again' : `still busy after ${o.quietWaitS} s`} (other work ${q.otherPct.toFixed(0)} % of a core)`);
      }
      const load1 = loadAverage1();
      load.samples.push(load1);
      const p = await tool<PointResult>('loadgen.ts', cfg, pins.loadgen, o.warmup + seconds + o.drain + 90);
      records.push({ phase, arm, point: p, load1AtStart: load1, attempt });
      log(
        `${phase} ${arm} @ ${rate}/s: achieved ${fmt(p.achievedRate, 0)}/s, errors ${fmt(p.errorRate * 100, 2)} %, TTFT p50/p99 ${fmt(p.ttftMs.p50, 2)}/${fmt(p.ttftMs.p99, 2)} ms, ` +
          `e2e p50/p99 ${fmt(p.e2eMs.p50)}/${fmt(p.e2eMs.p99)} ms, send lag p99 ${fmt(p.sendLagMs.p99, 2)} ms, ${costLine(arm, p)}other load ${fmt(p.cpuPct.other ?? NaN, 0)} %, irq ${fmt(p.cpuPct.irq ?? NaN, 0)} %, load1 ${fmt(load1, 2)}` +
          (p.firstError ? `; first error: ${p.firstError.slice(0, 160)}` : ''),
      );
      assertAlive(sys);
      if (best === null || (p.cpuPct.other ?? 0) < (best.cpuPct.other ?? 0)) best = p;
      if ((p.cpuPct.other ?? 0) <= o.maxOther) break;
      if (attempt < o.retries) log(`  other work used ${(p.cpuPct.other ?? 0).toFixed(0)} % of a core during that window (> ${o.maxOther} %): running the point again`);
    }
    for (const r of records) if (r.point === best) r.kept = true;
    return best!;
  };

  // Phase 1: streaming. First every arm unloaded (what each adds by design, without CPU
  // contention), then the arms interleaved per rate.
  const baseSeconds = Math.min(o.seconds, 5);
  const unloaded: ArmPoint[] = [];
  for (const arm of o.arms) unloaded.push({ arm, point: await point('baseline', arm, o.baselineRate, streamBody, o.streamTokens, baseSeconds) });
  const streamBase = unloaded[0]!.point;
  const streamPoints: ArmPoint[] = [];
  for (const rate of o.rates) for (const arm of o.arms) streamPoints.push({ arm, point: await point('streaming', arm, rate, streamBody, o.streamTokens) });

  // Phase 1b: 1-token streams, what a request costs with (nearly) no tokens to relay; their own
  // unloaded baseline (direct) for the sustained rule.
  let oneBase: PointResult | null = null;
  const oneTokenPoints: ArmPoint[] = [];
  if (o.oneToken) {
    const oneBody = requestBody(o, model, 1, true);
    oneBase = await point('baseline', 'direct', o.baselineRate, oneBody, 1, baseSeconds);
    for (const arm of o.arms) oneTokenPoints.push({ arm, point: await point('one-token', arm, o.oneTokenRate, oneBody, 1) });
  }

  // Phase 2: non-streaming sweep, per arm, up to the first rate it does not sustain.
  const sweepBody = requestBody(o, model, o.sweepTokens, false);
  let sweepBase: PointResult | null = null;
  const sweepPoints: ArmPoint[] = [];
  if (o.sweep) {
    sweepBase = await point('baseline', 'direct', o.baselineRate, sweepBody, 0, baseSeconds);
    for (const arm of o.sweepArms) {
      let failedInARow = 0;
      for (const rate of o.sweepRates) {
        const p = await point('sweep', arm, rate, sweepBody, 0);
        sweepPoints.push({ arm, point: p });
        failedInARow = sustained(p, sweepBase.e2eMs.p99).ok ? 0 : failedInARow + 1;
        if (failedInARow >= o.sweepStopAfter) break;
      }
    }
  }

  // Memory of the rate-phase router at its end (after the overloads), for the record.
  const ratePhaseRouterMemory = {
    ingress: memory(sys.router.ingress.pid),
    scheduler: memory(sys.router.scheduler.pid),
  };

  // Phase 3: memory with N open streams, through a fresh router stack and workers slow enough
  // to keep every stream open for minutes (1 token every ~150 ms per stream, as a loaded MoE engine).
  let hold: HoldResult | null = null;
  let holdDesc = '';
  if (o.rss) {
    await waitIdle(sys.sim);
    await stopRouter(sys.router);
    sys.router = null;
    if (sys.nginx) await stopChild(sys.nginx.child);
    sys.nginx = null;
    await stopChild(sys.sim.child);
    const perWorker = Math.ceil(o.rssStreams / 2) + 16;
    const slow = await startSim({
      root: ROOT,
      workers: 2,
      profile: 'deepseek-v3-tp8-h200',
      cpus: pins.rest,
      entry: cliEntry,
      env,
      extra: ['--max-num-seqs', String(perWorker), '--kv-blocks', String(perWorker * 200)],
    });
    const router = await startRouter({ root: ROOT, policy: o.policy, logLevel: 'warn', cpus: pins.rest, nodeFlags: profFlags, entry: routerEntry, env }, slow.urls);
    sys.router = router;
    sys.sim = slow;
    const dsModel = MODELS['deepseek-v3-tp8-h200']!;
    await waitForModel(router.url, dsModel, 2, 30_000, router.ingress);
    holdDesc = `${o.rssStreams.toLocaleString('en-US')} streams (${o.route}, max_tokens 2000, ignore_eos) through a fresh router stack to 2 simulated deepseek-v3-tp8-h200 workers (--max-num-seqs ${perWorker}: every stream runs, none waits)`;
    log(`memory phase: ${holdDesc}`);
    const cfg: HoldConfig = {
      url: router.url,
      path,
      body: requestBody(o, dsModel, 2000, true),
      streams: o.rssStreams,
      rampS: Math.max(1, o.rssStreams / 1000),
      openTimeoutS: 30,
      holdS: o.rssHold,
      sampleMs: 200,
      memoryOf: { ingress: router.ingress.pid, scheduler: router.scheduler.pid, 'nats-server': router.nats.pid },
    };
    load.samples.push(loadAverage1());
    hold = await tool<HoldResult>('hold.ts', cfg, pins.loadgen, cfg.rampS + cfg.openTimeoutS + cfg.holdS + 90);
    log(
      `memory phase: ${hold.opened}/${hold.requested} opened in ${hold.openTimeS.toFixed(1)} s, open during hold ${hold.openDuringHoldMin}–${hold.openDuringHoldMax}, errors ${hold.errors}` +
        (hold.firstError ? ` (${hold.firstError})` : ''),
    );
  }
  load.samples.push(loadAverage1());

  // Stop everything now (SIGTERM first, so that --cpu-prof profiles get written).
  if (sys.router) await stopRouter(sys.router);
  if (sys.nginx) await stopChild(sys.nginx.child);
  await stopChild(sys.sim.child);

  // Verdicts.
  const baseP99 = streamBase.e2eMs.p99;
  const streamHighest = Object.fromEntries(
    o.arms.map((a) => [
      a,
      highestSustained(
        streamPoints.filter((p) => p.arm === a).map((p) => p.point),
        baseP99,
      ),
    ]),
  ) as Record<Arm, number | null>;
  const sweepHighest = Object.fromEntries(
    o.sweepArms.map((a) => [
      a,
      o.sweep && sweepBase
        ? highestSustained(
            sweepPoints.filter((p) => p.arm === a).map((p) => p.point),
            sweepBase.e2eMs.p99,
          )
        : null,
    ]),
  ) as Record<Arm, number | null>;
  const targets: Target[] = [];
  const at = (ps: readonly ArmPoint[], arm: Arm, rate: number): PointResult | undefined => ps.find((p) => p.arm === arm && p.point.offeredRate === rate)?.point;
  const costAt = (ps: readonly ArmPoint[], arm: Arm, rate: number) => {
    const p = at(ps, arm, rate);
    return p ? unitCost(arm, p) : undefined;
  };
  const bothOk = (ps: readonly ArmPoint[], rate: number, baseline: number): boolean =>
    (['nginx', 'router'] as const).every((a) => {
      const p = at(ps, a, rate);
      return !!p && sustained(p, baseline).ok;
    });
  const sr = GOALS.streamRate;
  const srName = `${sr.toLocaleString('en-US')} streams/s × ${o.streamTokens} tokens`;
  if (o.rates.includes(sr)) {
    targets.push(
      cpuRatioTarget(
        `Router CPU per streamed event, ${srName}`,
        'event',
        GOALS.cpuPerEventFactor,
        costAt(streamPoints, 'router', sr),
        costAt(streamPoints, 'nginx', sr),
        bothOk(streamPoints, sr, baseP99),
      ),
    );
  } else {
    targets.push({ name: `Router CPU per streamed event, ${srName}`, goal: `≤ ${GOALS.cpuPerEventFactor} × nginx's`, measured: `rate ${sr} not in --rates`, verdict: 'NOT MEASURED' });
  }
  const otName = `Router CPU per request, 1-token streams at ${o.oneTokenRate.toLocaleString('en-US')} req/s`;
  if (oneBase) {
    targets.push(
      cpuRatioTarget(
        otName,
        'request',
        GOALS.cpuPerRequestFactor,
        costAt(oneTokenPoints, 'router', o.oneTokenRate),
        costAt(oneTokenPoints, 'nginx', o.oneTokenRate),
        bothOk(oneTokenPoints, o.oneTokenRate, oneBase.e2eMs.p99),
      ),
    );
  } else targets.push({ name: otName, goal: `≤ ${GOALS.cpuPerRequestFactor} × nginx's`, measured: '1-token phase not run', verdict: 'NOT MEASURED' });
  const jsonName = 'Router CPU per request, non-streaming JSON';
  const both = o.sweep && sweepBase !== null && o.sweepArms.includes('nginx') && o.sweepArms.includes('router');
  const sweepOf = (a: Arm): PointResult[] => sweepPoints.filter((p) => p.arm === a).map((p) => p.point);
  const jsonRate = both && sweepBase ? commonSustainedRate(sweepOf('nginx'), sweepOf('router'), sweepBase.e2eMs.p99, GOALS.sweepCostRate) : null;
  if (both && jsonRate !== null) {
    const t = cpuRatioTarget(
      `${jsonName} at ${jsonRate.toLocaleString('en-US')} req/s`,
      'request',
      GOALS.cpuPerRequestFactor,
      costAt(sweepPoints, 'router', jsonRate),
      costAt(sweepPoints, 'nginx', jsonRate),
      true,
    );
    targets.push(jsonRate === GOALS.sweepCostRate ? t : { ...t, note: `${GOALS.sweepCostRate.toLocaleString('en-US')} req/s not sustained by both: the highest rate both sustained` });
  } else {
    targets.push({
      name: jsonName,
      goal: `≤ ${GOALS.cpuPerRequestFactor} × nginx's`,
      measured: both ? 'no sweep rate sustained by both nginx and the router' : 'nginx and the router not both swept',
      verdict: 'NOT MEASURED',
    });
  }
  if (o.rates.includes(sr)) {
    targets.push(ttftVsNginxTarget(sr, at(streamPoints, 'router', sr), at(streamPoints, 'nginx', sr), bothOk(streamPoints, sr, baseP99)));
  } else
    targets.push({
      name: `Router-added TTFT against nginx, ${srName}`,
      goal: `p50 ≤ ${GOALS.addedTtftP50Ms} ms and p99 ≤ ${GOALS.addedTtftP99Ms} ms`,
      measured: `rate ${sr} not in --rates`,
      verdict: 'NOT MEASURED',
    });
  if (both) {
    const tried = sweepOf('nginx').map((p) => p.offeredRate);
    targets.push(sweepRatioTarget(sweepHighest.router, sweepHighest.nginx, Math.max(...tried)));
  } else
    targets.push({
      name: 'Non-streaming: highest rate sustained through the router against nginx',
      goal: `≥ ${GOALS.sweepFraction * 100} % of nginx's`,
      measured: 'nginx and the router not both swept',
      verdict: 'NOT MEASURED',
    });
  if (hold) {
    const allOpen = hold.opened >= hold.requested && hold.openDuringHoldMin >= hold.requested;
    targets.push(rssTarget('ingress', o.rssStreams, allOpen, hold.memory.ingress!.maxMB, GOALS.rssLimitMB));
    targets.push(rssTarget('scheduler', o.rssStreams, allOpen, hold.memory.scheduler!.maxMB, GOALS.rssLimitMB));
  } else {
    targets.push({ name: 'RSS of the ingress and scheduler with open streams', goal: '< 150 MB each', measured: 'memory phase not run', verdict: 'NOT MEASURED' });
  }

  // Report.
  const elapsedS = (Date.now() - started) / 1000;
  const maxLoad = Math.max(load.atStart, ...load.samples);
  const kept = [...unloaded, ...streamPoints, ...oneTokenPoints, ...sweepPoints].map((x) => x.point).concat(sweepBase ? [sweepBase] : [], oneBase ? [oneBase] : []);
  const otherMax = Math.max(0, ...kept.map((p) => p.cpuPct.other ?? 0));
  const reruns = records.filter((r) => r.attempt > 0).length;
  const md: string[] = [];
  md.push(`# Router overhead${o.quick ? ' (quick)' : ''}`);
  md.push('');
  md.push(
    `${new Date().toISOString()} · ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB · Node ${process.version} · ${pins.desc} · ` +
      `load average at start ${load.atStart.toFixed(2)}, highest seen ${maxLoad.toFixed(2)} (our own processes included); ` +
      `CPU used by other work on the machine during a kept window: up to ${otherMax.toFixed(0)} % of one core (${reruns} re-run${reruns === 1 ? '' : 's'} of points for contention above ${o.maxOther} %; the least contended run of each point is kept) · ${elapsedS.toFixed(0)} s`,
  );
  md.push('');
  md.push(
    `Workload: \`POST ${path}\` (${o.route === 'chat' ? 'one short user message' : 'prompt "Hello, my name is"'}), \`ignore_eos: true\`; the same ${o.workers} simulated workers (\`llm-router sim --profile ${o.profile}\`) serve every system. ` +
      `direct = the load generator round-robins over the workers itself; nginx = round robin, upstream keep-alive, \`proxy_buffering off\`; router = nats-server + scheduler (--policy ${o.policy}) + ingress + agent, each a process started from ${runs}. ` +
      `Open-loop ${o.poisson ? 'Poisson' : 'fixed-interval'} arrivals; each point ${o.warmup} s warm-up + ${o.seconds} s measured (+ up to ${o.drain} s drain). ` +
      `TTFT = first body chunk holding a \`data:\` event (streaming) or the first body byte, from the moment the request is handed to undici; E2E = end of the body.`,
  );
  md.push('');
  md.push(`## 64-token streams (max_tokens ${o.streamTokens}, stream: true)`);
  md.push('');
  md.push(streamingTable(streamPoints, o.rates, baseP99));
  md.push('');
  md.push('† not sustained: the system is overloaded at this rate, so its latencies are queueing and the differences against direct (over the requests that succeeded) mean little.');
  md.push('');
  md.push(`Unloaded (${o.baselineRate} req/s, ${baseSeconds} s per system) — what each system adds with the CPUs mostly idle:`);
  md.push('');
  md.push(streamingTable(unloaded, [o.baselineRate], baseP99));
  md.push('');
  md.push('### CPU per streamed event and per request');
  md.push('');
  md.push(costTable(streamPoints, 'event'));
  md.push('');
  md.push(COST_TEXT);
  md.push('');
  if (oneBase) {
    md.push(`## 1-token streams (max_tokens 1, stream: true)`);
    md.push('');
    md.push(streamingTable(oneTokenPoints, [o.oneTokenRate], oneBase.e2eMs.p99));
    md.push('');
    md.push(
      `Unloaded baseline (direct, ${o.baselineRate} req/s): E2E p50/p99 ${fmt(oneBase.e2eMs.p50)}/${fmt(oneBase.e2eMs.p99)} ms (the sustained rule's reference for these points). What a request costs with one token to relay:`,
    );
    md.push('');
    md.push(costTable(oneTokenPoints, 'request'));
    md.push('');
  }
  if (o.sweep && sweepBase) {
    md.push(`## Non-streaming sweep (max_tokens ${o.sweepTokens}, stream: false)`);
    md.push('');
    md.push(sweepTable(sweepPoints, sweepBase.e2eMs.p99));
    md.push('');
    md.push('CPU per request at each sweep point:');
    md.push('');
    md.push(costTable(sweepPoints, 'request'));
    md.push('');
    md.push(
      `Unloaded baseline (direct, ${o.baselineRate} req/s): E2E p50/p99 ${fmt(sweepBase.e2eMs.p50)}/${fmt(sweepBase.e2eMs.p99)} ms. Each system's sweep stops after ${o.sweepStopAfter} rate${o.sweepStopAfter === 1 ? '' : 's'} in a row that it does not sustain (so that one hiccup does not end it); each rate is measured once.`,
    );
    md.push('');
  }
  md.push('## Highest sustained rate');
  md.push('');
  md.push(
    highestTable(
      ARMS.filter((a) => o.arms.includes(a) || (o.sweep && o.sweepArms.includes(a))).map((a) => ({
        arm: a,
        streaming: o.arms.includes(a) ? streamHighest[a] : null,
        streamingTried: o.rates.join(', '),
        nonStreaming: o.sweep && o.sweepArms.includes(a) ? sweepHighest[a] : undefined,
        nonStreamingTried: sweepPoints
          .filter((p) => p.arm === a)
          .map((p) => p.point.offeredRate)
          .join(', '),
      })),
    ),
  );
  md.push('');
  md.push(sustainRuleText(`direct at ${o.baselineRate} req/s with the same workload (the unloaded baseline)`));
  md.push('');
  if (hold) {
    md.push(`## Memory with ${o.rssStreams.toLocaleString('en-US')} open streams`);
    md.push('');
    md.push(
      `${holdDesc}. ${hold.opened.toLocaleString('en-US')}/${hold.requested.toLocaleString('en-US')} streams delivered a first event within ${hold.openTimeS.toFixed(1)} s; open during the ${o.rssHold} s hold: ${hold.openDuringHoldMin}–${hold.openDuringHoldMax}; ${Math.round(hold.eventsPerS).toLocaleString('en-US')} SSE events/s flowing; ${hold.errors} errors.`,
    );
    md.push('');
    md.push(memoryTable(hold));
    md.push('');
    const mb = (m: { rss: number; hwm: number } | null): string => (m ? `${(m.rss / 2 ** 20).toFixed(1)} MB (peak ${(m.hwm / 2 ** 20).toFixed(1)} MB)` : '—');
    md.push(
      `For the record, the rate-phase router at the end of phases 1–2 (after the overloaded points): ingress ${mb(ratePhaseRouterMemory.ingress)}, scheduler ${mb(ratePhaseRouterMemory.scheduler)}.`,
    );
    md.push('');
  }
  md.push('## Targets');
  md.push('');
  md.push(targetsTable(targets));
  md.push('');
  const text = md.join('\n');
  process.stdout.write(`${text}\n`);

  const mdPath = `${o.out.replace(/\.json$/, '')}.md`;
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(mdPath, `${text}\n`);
  writeFileSync(
    o.out,
    `${JSON.stringify(
      {
        command: `node --import tsx bench/overhead/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, pinning: pins.desc, loadAverageAtStart: load.atStart, loadAverageSamples: load.samples },
        routerProcesses: runs,
        options: o,
        sustainRule: sustainRuleText(`direct at ${o.baselineRate} req/s with the same workload`),
        baselines: { streaming: streamBase, streamingUnloaded: unloaded, oneToken: oneBase, nonStreaming: sweepBase },
        costNote: COST_TEXT,
        streaming: streamPoints.map(withCost),
        oneToken: oneTokenPoints.map(withCost),
        sweep: sweepPoints.map(withCost),
        highestSustained: { streaming: streamHighest, nonStreaming: o.sweep ? sweepHighest : null },
        memory: hold ? { description: holdDesc, result: hold, ratePhaseRouterAtEnd: ratePhaseRouterMemory } : null,
        targets,
        points: records,
        elapsedS,
      },
      null,
      2,
    )}\n`,
  );
  log(`wrote ${o.out} and ${mdPath}`);
  return targets.every((t) => t.verdict === 'PASS') ? 0 : 1;
}

const withCost = (p: ArmPoint) => ({ ...p, cost: unitCost(p.arm, p.point) });

const COST_TEXT =
  'CPU µs per unit = the CPU time a process group used over the measurement window (schedstat, all threads) ÷ the SSE events (data events other than `[DONE]`, one per token) or the successful responses that completed in that window. ' +
  "System = the system's own request-path processes: nginx's workers (and master), or the router's ingress + scheduler + nats-server (each shown); " +
  "the agent (heartbeats, off the request path) and the simulator (the same work for every system) apart. Router ÷ nginx: the router's system figure over nginx's at the same offered rate. " +
  "NATS: nats-server's /varz counters (in = messages and bytes the router's processes published, out = delivered to subscribers) over the same window, heartbeats included, ÷ the same events or requests: they show how many messages a token costs, whatever the stream protocol packs into one.";

async function stopRouter(r: RouterArm): Promise<void> {
  const all: Child[] = [r.ingress, ...r.agents, r.scheduler];
  await Promise.all(all.map((c) => stopChild(c, 15_000)));
  await stopChild(r.nats);
}

/** Runs the benchmark; resolves with the exit status (0 when every target passes). */
export async function runOverhead(o: Options): Promise<number> {
  installCleanupHooks();
  try {
    return await main(o);
  } catch (e) {
    log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  } finally {
    cleanupNow();
  }
}
