// The capacity benchmark's run: the simulator on its core, the load client on the other (this
// process too, so it stays off the simulator's core), then the verdict, printed and written.
// Every child process is killed at the end, on failure and on Ctrl-C.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROFILES } from '../../sim/profiles.ts';
import { runTool } from '../lib/child-main.ts';
import { cleanupNow, freePortRange, hasTaskset, installCleanupHooks, pinPid, stopChild } from '../lib/procs.ts';
import type { ClientConfig, ClientResult } from './client.ts';
import { ROOT, type Options } from './options.ts';
import { capacityJson, capacityTable, verdict } from './report.ts';
import { startSim } from './sim-process.ts';

const CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'client.ts');

async function orchestrate(o: Options): Promise<number> {
  const useTaskset = hasTaskset();
  if (!useTaskset) process.stderr.write('capacity: taskset not found, running unpinned\n');
  // Keep this process (which only orchestrates) off the simulator's core.
  if (useTaskset) pinPid(process.pid, String(o.clientCore));
  if (o.cpuProf) mkdirSync(o.cpuProf, { recursive: true });

  const basePort = await freePortRange(o.workers);
  const { child: sim, urls } = await startSim(o, basePort, useTaskset ? String(o.simCore) : null);
  process.stderr.write(`capacity: simulator pid ${sim.pid} on core ${o.simCore}, ${o.workers} workers at ${urls[0]} …; ${o.streams} streams for ${o.warmup} s warm-up + ${o.seconds} s\n`);
  let r: ClientResult;
  try {
    const cfg: ClientConfig = {
      urls,
      streams: o.streams,
      seconds: o.seconds,
      warmup: o.warmup,
      maxTokens: o.maxTokens,
      promptTokens: o.promptTokens,
      profile: o.profile,
      simPid: sim.pid,
      simCore: o.simCore,
      model: PROFILES[o.profile].model,
    };
    r = await runTool<ClientResult>(CLIENT, cfg, { cpus: useTaskset ? String(o.clientCore) : null, timeoutS: cfg.warmup + cfg.seconds + 60, cwd: ROOT });
  } finally {
    // SIGTERM lets the simulator stop its workers and exit normally, which also writes --cpu-prof.
    await stopChild(sim, 10_000);
  }

  const v = verdict(o, r);
  process.stdout.write(capacityTable(o, r, v));
  if (r.firstError) process.stdout.write(`first request error: ${r.firstError}\n`);
  process.stdout.write(`${v.pass ? 'PASS' : 'FAIL'}\n`);
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(capacityJson(o, r, v, useTaskset), null, 2)}\n`);
  process.stdout.write(`wrote ${o.out}\n`);
  return v.pass ? 0 : 1;
}

/** Runs the benchmark; resolves with the exit status (0 PASS, 1 FAIL or error). */
export async function runCapacity(o: Options): Promise<number> {
  installCleanupHooks();
  try {
    return await orchestrate(o);
  } catch (e) {
    process.stderr.write(`capacity: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    cleanupNow();
  }
}
