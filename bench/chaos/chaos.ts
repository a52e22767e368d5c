// The chaos benchmark (`npm run chaos`, options in options.ts): steady load on a simulated fleet behind two ingresses and two
// schedulers while workers crash, hang, start slowly, die mid-stream and burst errors, and a
// scheduler and the bus are restarted. Reports requests sent, succeeded, retried, failed with a
// clear error (by code), hung and lost, sequences left in the workers, and memory growth per
// process; writes JSON. Passes only when nothing hung (no first byte, or a silence, beyond 10 s:
// well below the router's 30 s request and 15 s idle timeouts, so a request the router gave up on
// with a 504 still counts as hung), nothing was lost, at least 99 % of the requests succeeded
// apart from streams cut mid-answer (which no router can hide), no sequence is left running in
// the workers, and no process grew by more than its memory bound.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { memory } from '../lib/procfs.ts';
import { cleanupNow, freePort, freePortRange, installCleanupHooks, makeTempDir, sleep, startChild, tcpAnswers, waitFor, type Child } from '../lib/procs.ts';
import { natsServerBin } from '../lib/nats-server.ts';
import { waitForModel } from '../lib/router.ts';
import { startLoad } from './client.ts';
import { plan, type Fault } from './faults.ts';
import { ROOT, type ChaosOptions } from './options.ts';

const BIN = join(ROOT, 'bin', 'llm-router.js');
const MODEL = 'sim-tiny';
/** Well below the router's timeouts in this run (request 30 s, idle 15 s, upstream 2–3 s). */
const HANG = { firstByteMs: 10_000, silenceMs: 10_000 } as const;
const MIN_SUCCESS = 0.99;
/** RSS growth allowed per process from the end of the warm-up to the end of the run. */
const MAX_GROWTH_MB = 64;

const log = (s: string): void => void process.stdout.write(`chaos: ${s}\n`);

/** A process the run may kill and start again with the same arguments. */
class Restartable {
  child: Child;
  restarts = 0;
  readonly name: string;
  readonly #start: () => Child;
  constructor(name: string, start: () => Child) {
    this.name = name;
    this.#start = start;
    this.child = start();
  }
  async restart(downMs: number, ready: () => Promise<boolean>): Promise<void> {
    const gone = new Promise((r) => this.child.proc.once('exit', r));
    this.child.proc.kill('SIGKILL');
    await gone;
    await sleep(downMs);
    this.child = this.#start();
    this.restarts++;
    await waitFor(`${this.name} to come back`, ready, 20_000, this.child);
  }
}

async function main(o: ChaosOptions): Promise<void> {
  const { minutes, seed, concurrency, workers: workerCount, json, logLevel } = o;
  const durationMs = Math.round(minutes * 60_000);
  const node = (name: string, sub: readonly string[]): Child => startChild(name, process.execPath, [BIN, ...sub, ...(sub[0] === 'sim' ? [] : ['--log-level', logLevel])], { cwd: ROOT });

  // The bus: a config of our own on a fixed port, so that a restart comes back where clients reconnect.
  const natsPort = await freePort();
  const dir = makeTempDir('llmr-chaos-');
  writeFileSync(join(dir, 'nats.conf'), `listen: 127.0.0.1:${natsPort}\nmax_payload: 8MB\n`);
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const bus = new Restartable('nats-server', () => startChild('nats-server', natsServerBin(), ['-c', join(dir, 'nats.conf')]));
  await waitFor('nats-server', () => tcpAnswers(natsPort), 10_000, bus.child);

  const base = await freePortRange(workerCount);
  const workers = Array.from({ length: workerCount }, (_, i) => `http://127.0.0.1:${base + i}`);
  const sim = node('sim', ['sim', '--workers', String(workerCount), '--base-port', String(base), '--profile', 'tiny', '--output-len', '8:32']);
  await waitFor('simulated workers', () => tcpAnswers(base + workerCount - 1), 30_000, sim);
  const agent = node('agent', ['agent', '--worker', workers.join(','), '--interval-ms', '250', '--probe-timeout-ms', '1000', '--nats-url', natsUrl]);

  const schedulerArgs = async (i: number): Promise<string[]> => [
    'scheduler',
    '--id',
    `chaos-sched-${i}`,
    '--nats-url',
    natsUrl,
    '--policy',
    'power_of_two',
    '--metrics-port',
    String(await freePort()),
    '--upstream-headers-timeout-ms',
    '2000',
    '--upstream-body-timeout-ms',
    '3000',
    '--cb-cooldown-ms',
    '2000',
  ];
  const schedulers: Restartable[] = [];
  const metricsUrls: string[] = [];
  for (let i = 0; i < 2; i++) {
    const a = await schedulerArgs(i);
    metricsUrls.push(`http://127.0.0.1:${a[a.indexOf('--metrics-port') + 1]}/metrics`);
    schedulers.push(new Restartable(`scheduler-${i}`, () => node(`scheduler-${i}`, a)));
  }
  const ingressPorts = [await freePort(), await freePort()];
  const ingresses = ingressPorts.map((p, i) =>
    node(`ingress-${i}`, ['ingress', '--id', `chaos-ingress-${i}`, '--port', String(p), '--metrics-port', '0', '--nats-url', natsUrl, '--request-timeout-ms', '30000', '--idle-timeout-ms', '15000']),
  );
  const urls = ingressPorts.map((p) => `http://127.0.0.1:${p}`);
  for (const u of urls) await waitForModel(u, MODEL, workerCount, 30_000);
  log(`stack up: nats ${natsUrl}, ${workerCount} workers, 2 schedulers, 2 ingresses; ${minutes} min, ${concurrency} clients, seed ${seed}`);

  // Retries, from the schedulers' own counters (summed over every instance that ran).
  const retriesSeen = new Map<string, number>();
  const scrapeRetries = async (): Promise<void> => {
    for (const [i, u] of metricsUrls.entries()) {
      try {
        const r = await request(u, { headersTimeout: 1000, bodyTimeout: 1000 });
        const text = await r.body.text();
        let n = 0;
        for (const m of text.matchAll(/^llm_router_retries_total\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
        retriesSeen.set(`${i}:${schedulers[i]!.restarts}`, n);
      } catch {
        // restarting
      }
    }
  };
  const sampler = setInterval(() => void scrapeRetries(), 1000);

  const rss = (c: Child): number => memory(c.pid)?.rss ?? NaN;
  const load = startLoad({ ingresses: urls, model: MODEL, concurrency, timeoutMs: 45_000, seed, hang: HANG });
  const started = Date.now();
  const warmupMs = Math.min(10_000, durationMs / 6);
  const faults = plan({ durationMs, workers: workerCount, schedulers: 2, seed, everyMs: 3000, quietMs: warmupMs });
  let memStart: Record<string, number> = {};
  const memAt = (): Record<string, number> => ({
    'ingress-0': rss(ingresses[0]!),
    'ingress-1': rss(ingresses[1]!),
    'scheduler-0': rss(schedulers[0]!.child),
    'scheduler-1': rss(schedulers[1]!.child),
    agent: rss(agent),
    sim: rss(sim),
    'nats-server': rss(bus.child),
  });
  const counts: Record<string, number> = {};
  const apply = async (f: Fault): Promise<void> => {
    counts[f.kind] = (counts[f.kind] ?? 0) + 1;
    const faultsAt = (w: number, body: unknown) =>
      request(`${workers[w]}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), headersTimeout: 2000, bodyTimeout: 2000 })
        .then((r) => r.body.dump())
        .catch(() => undefined);
    const later = (w: number, ms: number) => setTimeout(() => void faultsAt(w, { reset: true }), ms);
    switch (f.kind) {
      case 'crash':
        await faultsAt(f.worker, { crashForMs: f.ms });
        break;
      case 'hang':
        await faultsAt(f.worker, { hang: true });
        later(f.worker, f.ms);
        break;
      case 'slow_start':
        await faultsAt(f.worker, { slowStartMs: f.ms });
        break;
      case 'die_mid_stream':
        await faultsAt(f.worker, { dieAfterTokens: f.afterTokens });
        later(f.worker, f.ms);
        break;
      case 'error_burst':
        await faultsAt(f.worker, { errorRate: f.rate, errorStatus: f.status });
        later(f.worker, f.ms);
        break;
      case 'restart_scheduler': {
        const s = schedulers[f.scheduler]!;
        log(`t=${((Date.now() - started) / 1000).toFixed(0)}s restarting ${s.name}`);
        const port = Number(new URL(metricsUrls[f.scheduler]!).port);
        await s.restart(1000, () => tcpAnswers(port));
        break;
      }
      case 'restart_bus':
        log(`t=${((Date.now() - started) / 1000).toFixed(0)}s restarting the bus`);
        await bus.restart(1000, () => tcpAnswers(natsPort));
        break;
    }
  };
  let memStartTaken = false;
  for (const p of faults) {
    const wait = p.at - (Date.now() - started);
    if (!memStartTaken && p.at >= warmupMs) {
      await sleep(Math.max(0, warmupMs - (Date.now() - started)));
      memStart = memAt();
      memStartTaken = true;
    }
    if (wait > 0) await sleep(p.at - (Date.now() - started));
    apply(p.fault).catch((e: unknown) => log(`fault ${p.fault.kind} failed: ${(e as Error).message}`));
  }
  if (!memStartTaken) memStart = memAt();
  await sleep(Math.max(0, durationMs - (Date.now() - started)));
  const report = await load.stop();
  await scrapeRetries();
  clearInterval(sampler);
  const memEnd = memAt();
  const retried = [...retriesSeen.values()].reduce((a, b) => a + b, 0);
  // Every request has ended for its client: none may still hold a sequence in a worker (the
  // router must have cancelled whatever it abandoned). Faults end with the run; give aborts a moment.
  for (let w = 0; w < workers.length; w++)
    await request(`${workers[w]}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reset":true}' })
      .then((r) => r.body.dump())
      .catch(() => undefined);
  const leftInWorkers = async (): Promise<number> => {
    let n = 0;
    for (const u of workers) {
      try {
        const r = await request(`${u}/_sim/state`, { headersTimeout: 2000, bodyTimeout: 2000 });
        const s = (await r.body.json()) as { running: number; waiting: number; openRequests: number };
        n += s.running + s.waiting + s.openRequests;
      } catch {
        // a crashed worker still down holds nothing
      }
    }
    return n;
  };
  let leftRunning = await leftInWorkers();
  for (let i = 0; i < 50 && leftRunning > 0; i++) {
    await sleep(200);
    leftRunning = await leftInWorkers();
  }

  const growth = Object.fromEntries(Object.keys(memEnd).map((k) => [k, (memEnd[k]! - memStart[k]!) / 1048576]));
  const restartedNames = new Set([...(bus.restarts ? ['nats-server'] : []), ...schedulers.filter((s) => s.restarts > 0).map((s) => s.name)]);
  const overGrown = Object.entries(growth)
    .filter(([k, g]) => !restartedNames.has(k) && g > MAX_GROWTH_MB)
    .map(([k, g]) => `${k} +${g.toFixed(0)} MB`);
  const hideable = report.sent - report.midStream;
  const successRate = hideable > 0 ? report.outcomes.ok / hideable : 1;
  const result = {
    minutes,
    seed,
    concurrency,
    workers: workerCount,
    faults: counts,
    sent: report.sent,
    succeeded: report.outcomes.ok,
    retried,
    failedWithClearError: report.outcomes.clear_error,
    hung: report.outcomes.hung,
    lost: report.outcomes.lost,
    clearErrors: report.clearErrors,
    failures: report.failures,
    midStream: report.midStream,
    successRate: +successRate.toFixed(4),
    leftRunning,
    overGrown,
    examples: report.examples,
    memoryMb: Object.fromEntries(Object.keys(memEnd).map((k) => [k, { start: +(memStart[k]! / 1048576).toFixed(1), end: +(memEnd[k]! / 1048576).toFixed(1), growth: +growth[k]!.toFixed(1) }])),
    restarted: { 'nats-server': bus.restarts, 'scheduler-0': schedulers[0]!.restarts, 'scheduler-1': schedulers[1]!.restarts },
    pass: report.outcomes.hung === 0 && report.outcomes.lost === 0 && successRate >= MIN_SUCCESS && leftRunning === 0 && overGrown.length === 0,
  };
  mkdirSync(join(json, '..'), { recursive: true });
  writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);

  const rows = [
    ['requests sent', report.sent],
    ['succeeded', report.outcomes.ok],
    ['retried (by the schedulers)', retried],
    ['failed with a clear error', report.outcomes.clear_error],
    ['hung (must be 0)', report.outcomes.hung],
    ['lost (must be 0)', report.outcomes.lost],
    ['streams cut mid-answer (no router can hide these)', report.midStream],
    [`succeeded of the rest (must be ≥ ${MIN_SUCCESS * 100} %)`, `${(successRate * 100).toFixed(2)} %`],
    ['sequences left in the workers (must be 0)', leftRunning],
  ];
  process.stdout.write(`\n| chaos, ${minutes} min, seed ${seed} | count |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`);
  process.stdout.write(
    `\nfaults injected: ${Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}\n`,
  );
  process.stdout.write(`\n| process | RSS at warm-up (MB) | RSS at end (MB) | growth (MB) |\n|---|---|---|---|\n`);
  for (const [k, v] of Object.entries(result.memoryMb))
    process.stdout.write(`| ${k}${k in result.restarted && result.restarted[k as keyof typeof result.restarted] > 0 ? ' (restarted)' : ''} | ${v.start} | ${v.end} | ${v.growth} |\n`);
  process.stdout.write(
    `\nfailures by kind: ${
      Object.entries(report.failures)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }\n`,
  );
  if (overGrown.length) process.stdout.write(`\nover the ${MAX_GROWTH_MB} MB growth bound: ${overGrown.join(', ')}\n`);
  if (Object.keys(report.examples).length) process.stdout.write(`\nhung/lost examples: ${JSON.stringify(report.examples)}\n`);
  process.stdout.write(
    `\n${result.pass ? 'PASS' : 'FAIL'}: nothing hung or lost, ≥ ${MIN_SUCCESS * 100} % served, nothing left running, memory bounded${result.pass ? '' : ' — see above'}\nwrote ${json}\n`,
  );
  cleanupNow();
  process.exit(result.pass ? 0 : 1);
}

/** Runs the chaos benchmark and exits: 0 PASS, 1 FAIL, 2 when the run itself broke. */
export async function runChaos(o: ChaosOptions): Promise<never> {
  installCleanupHooks();
  try {
    await main(o);
  } catch (e) {
    process.stderr.write(`chaos: ${(e as Error).stack ?? String(e)}\n`);
  }
  cleanupNow();
  process.exit(2);
}
